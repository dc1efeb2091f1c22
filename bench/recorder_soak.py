# SPDX-License-Identifier: Apache-2.0
"""Recorder soak: the ALOHA sensor load into recorder_node for minutes; offered vs written, memory, CPU.

recorder_node (robot preset ``aloha``, an episode autostarted) runs as a process on a leased ROS
domain over real DDS. This process publishes three 640x480 rgb8 cameras at 30 Hz and each follower
arm's joint states at 100 Hz on its own topic (~80 MB/s), every message numbered in
``header.frame_id`` per topic. The recorder splits the episode bag every ``--split-mb`` (its ``max_bag_size``, as rosbag2's --max-bag-size):
a split appears in the bag folder only once closed, so while the load runs this bench reads each
closed split (every message's sequence number, per topic) and deletes it (unless ``--keep``): ten
minutes of the load (~48 GB) never sit on the disk at once. Every ``--sample-s`` the recorder's
resident memory (/proc VmRSS) and the machine's 1-minute load average are sampled. At the end the
recorder is stopped (SIGINT: it closes the bag) and the rest is read the same way: a message counts
as written when its topic's sequence number was in a split (duplicates are not double-counted).
Prints offered / written / dropped per topic, the RSS series with the writer queue beside it
(``queued_bytes`` of the recorder's /diagnostics: RSS follows a backlog) and the load series (flat
RSS is the goal: growth is measured from the first sample after ``--warmup-s`` to the last), the
recorder's CPU over the load (percent of one core), its own count of messages it dropped with its
writer queue full (the rest of the drops happened before its callback: DDS), the splits read and
the most bag bytes on disk at once, the hardware. Last line:
``recorder_soak offered=<n> written=<n> drops=<n> rss_growth_mb=<x>``.
``--dds-profile config/dds/fastdds_large_frames.xml`` runs both processes with that Fast DDS
profile (FASTDDS_DEFAULT_PROFILES_FILE); without it, the stock transports.
Usage: python bench/recorder_soak.py [--minutes 10] [--sample-s 10] [--warmup-s 20] [--split-mb 1024]
    [--keep DIR] [--dds-profile XML]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import rclpy
from mcap.exceptions import McapError
from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from cosmos_policy_ros.ros.dds_env import DomainLease, apply_local_dds_defaults
from node_overhead import ALOHA_CAMERA_HZ, ALOHA_JOINTS_HZ, AlohaStreams, _hardware, cpu_seconds

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 120.0  # the recorder writes out its queue and closes the bag
DRAIN_S = 2.0  # after the last message: let DDS deliver what is in flight
HEADER_FRAME_ID_OFFSET = 12  # CDR: 4-byte encapsulation, stamp (8), then the frame_id string
CDR_LITTLE_ENDIAN = 1
MIB = 2**20
PAGE_KIB = 1024
FASTDDS_PROFILE_VAR = "FASTDDS_DEFAULT_PROFILES_FILE"
SPLIT_POLL_S = 1.0
DIAGNOSTICS_DEPTH = 10
NUMBERED = ("sensor_msgs/msg/Image", "sensor_msgs/msg/JointState")


def rss_mib(pid: int) -> float:
    """Resident memory of a process [MiB] (/proc/<pid>/status VmRSS)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return kib / PAGE_KIB


def frame_id(cdr: bytes) -> str:
    """``header.frame_id`` of a serialized message that starts with std_msgs/Header."""
    order = "<" if cdr[1] == CDR_LITTLE_ENDIAN else ">"
    (length,) = struct.unpack_from(order + "I", cdr, HEADER_FRAME_ID_OFFSET)
    start = HEADER_FRAME_ID_OFFSET + 4
    return cdr[start:start + length - 1].decode("ascii")  # CDR strings carry their NUL


def read_sequences(mcap: Path, found: dict[str, set[int]]) -> None:
    """Add the sequence numbers of the numbered topics in one .mcap file to ``found`` (per topic).

    Reads the records in file order (no summary needed: the last file of a recorder that did not
    stop cleanly still counts up to its last complete record)."""
    schemas: dict[int, str] = {}
    topics: dict[int, str] = {}  # channel id -> topic, numbered types only
    with open(mcap, "rb") as f:
        try:
            for record in StreamReader(f).records:
                if isinstance(record, Schema):
                    schemas[record.id] = record.name
                elif isinstance(record, Channel) and schemas.get(record.schema_id) in NUMBERED:
                    topics[record.id] = record.topic
                elif isinstance(record, Message) and record.channel_id in topics:
                    found.setdefault(topics[record.channel_id], set()).add(int(frame_id(record.data)))
        except (McapError, ValueError, EOFError, struct.error):
            pass  # a partially written last record


class WriterQueue:
    """The recorder's writer queue as its /diagnostics reports it: bytes waiting for the disk."""

    def __init__(self, node: Node) -> None:
        self.queued_bytes = 0
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, DIAGNOSTICS_DEPTH)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if "queued_bytes" in values:
                self.queued_bytes = int(values["queued_bytes"])


class SplitCollector:
    """Reads each closed split of the episode bags under ``root`` as it appears, then deletes it."""

    def __init__(self, root: Path, keep: bool) -> None:
        self.root, self.keep = root, keep
        self.found: dict[str, set[int]] = {}
        self.splits = 0
        self.splits_while_recording = 0
        self.peak_bytes = 0
        self._done: set[Path] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _closed_splits(self) -> list[Path]:
        return sorted(f for bag in self.root.iterdir() if bag.is_dir() for f in bag.glob("*.mcap")
                      if re.fullmatch(re.escape(bag.name) + r"_\d+\.mcap", f.name) and f not in self._done)

    def collect(self, files: list[Path]) -> None:
        self.peak_bytes = max(self.peak_bytes, sum(f.stat().st_size for f in self.root.rglob("*") if f.is_file()))
        for split in files:
            read_sequences(split, self.found)
            self.splits += 1
            self._done.add(split)
            if not self.keep:
                split.unlink()

    def _run(self) -> None:
        while not self._stop.wait(SPLIT_POLL_S):
            self.collect(self._closed_splits())

    def stop(self) -> None:
        """Before the recorder is stopped: no more reading as splits close."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.splits_while_recording = self.splits

    def finish(self) -> None:
        """After the recorder stopped: the rest (the last split, or the one file without splitting)."""
        self.collect(sorted(f for f in self.root.rglob("*.mcap") if f not in self._done))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the load runs")
    parser.add_argument("--sample-s", type=float, default=10.0, help="RSS sampling period [s]")
    parser.add_argument("--warmup-s", type=float, default=20.0, help="RSS growth is measured after this")
    parser.add_argument("--split-mb", type=float, default=1024.0,
                        help="the recorder's max_bag_size [MiB]; each closed split is read, then deleted")
    parser.add_argument("--keep", type=Path, default=None, help="write the bag here and keep every split")
    parser.add_argument("--dds-profile", type=Path, default=None, help="Fast DDS XML profile for both processes")
    args = parser.parse_args()
    apply_local_dds_defaults()
    if args.dds_profile:
        os.environ[FASTDDS_PROFILE_VAR] = str(args.dds_profile.resolve())
    output = args.keep or Path(tempfile.mkdtemp(prefix="recorder_soak_"))
    output.mkdir(parents=True, exist_ok=True)
    collector = SplitCollector(output, keep=args.keep is not None)
    log = tempfile.NamedTemporaryFile(prefix="recorder_soak_", suffix=".log")
    with DomainLease() as lease:
        env = {**lease.env(), "OMP_NUM_THREADS": "1"}
        os.environ.update(env)
        params = {"robot": "aloha", "output_dir": str(output), "autostart_episode": "true",
                  "autostart_task": "'soak'", "max_bag_size": str(int(args.split_mb * MIB))}
        proc = subprocess.Popen([sys.executable, "-m", "cosmos_policy_ros.ros.recorder_node", "--ros-args",
                                 *[a for k, v in params.items() for a in ("-p", f"{k}:={v}")]],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        context = Context()
        rclpy.init(context=context)
        node = Node("recorder_soak", context=context)
        load = AlohaStreams(node)
        writer_queue = WriterQueue(node)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not all(p.get_subscription_count() for p in load.publishers):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("recorder_node did not subscribe to the ALOHA topics")
                time.sleep(0.1)
            start_cpu, started = cpu_seconds(proc.pid), time.monotonic()
            load.start()
            collector.start()
            samples: list[tuple[float, float, float, float]] = []  # (t, RSS, writer queue MiB, machine load)
            while time.monotonic() - started < 60.0 * args.minutes:
                samples.append((time.monotonic() - started, rss_mib(proc.pid), writer_queue.queued_bytes / MIB,
                                os.getloadavg()[0]))
                time.sleep(min(args.sample_s, max(0.0, 60.0 * args.minutes - (time.monotonic() - started))))
            load.close()
            time.sleep(DRAIN_S)
            cpu_pct = 100.0 * (cpu_seconds(proc.pid) - start_cpu) / (time.monotonic() - started)
            samples.append((time.monotonic() - started, rss_mib(proc.pid), writer_queue.queued_bytes / MIB,
                            os.getloadavg()[0]))
        finally:
            load.close()
            collector.stop()
            executor.shutdown()
            spinner.join()
            node.destroy_node()
            rclpy.try_shutdown(context=context)
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=STOP_TIMEOUT_S)
    collector.finish()
    found = collector.found
    log.seek(0)
    stopped = [line for line in log.read().decode(errors="replace").splitlines() if "recorder stopped" in line]
    log.close()
    print(f"hardware: {_hardware()}")
    print(f"load: 3 cameras {'/'.join(load.frame_sizes)} rgb8 at {ALOHA_CAMERA_HZ:.0f} Hz + joint "
          f"states at {ALOHA_JOINTS_HZ:.0f} Hz for {args.minutes:g} min; recorder CPU {cpu_pct:.1f} % of a core; "
          f"DDS profile {args.dds_profile or 'stock'}")
    total_offered = total_written = 0
    for topic, offered in load.offered.items():
        written = len({s for s in found.get(topic, set()) if s < offered})
        total_offered, total_written = total_offered + offered, total_written + written
        print(f"  {topic}: offered {offered}, written {written}, dropped {offered - written}")
    print("recorder's own count: " + (stopped[-1].split(": ", 1)[-1] if stopped else "missing (no clean stop)"))
    print("recorder RSS MiB over time: " + ", ".join(f"{t:.0f}s {m:.0f}" for t, m, _, _ in samples))
    print("its writer queue MiB (its last /diagnostics, up to 1 s older): "
          + ", ".join(f"{t:.0f}s {q:.0f}" for t, _, q, _ in samples))
    print("machine load (1-min average) over time: " + ", ".join(f"{t:.0f}s {la:.1f}" for t, _, _, la in samples))
    after_warmup = [m for t, m, _, _ in samples if t >= args.warmup_s] or [samples[-1][1]]
    growth = after_warmup[-1] - after_warmup[0]
    print(f"bag: {collector.splits} file(s) read ({collector.splits_while_recording} as they closed while recording; "
          f"max_bag_size {args.split_mb:g} MiB), at most {collector.peak_bytes / MIB:.0f} MiB on disk at once, in "
          f"{output}" + ("" if args.keep else " (deleted as read)"))
    if not args.keep:
        shutil.rmtree(output, ignore_errors=True)
    print(f"recorder_soak offered={total_offered} written={total_written} drops={total_offered - total_written} "
          f"rss_growth_mb={growth:.1f}")


if __name__ == "__main__":
    main()
