# SPDX-License-Identifier: Apache-2.0
"""recorder_node over real DDS: complete bags on SIGINT, readable bags after kill -9, exact conversion."""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="recorder tests need rclpy")

from mcap.reader import make_reader  # noqa: E402
from rclpy.serialization import deserialize_message  # noqa: E402
from recorder_checks import RecorderMonitor, assert_bag_holds_what_was_published  # noqa: E402
from recorder_publisher import SEQ_KEY, parse_frame_id  # noqa: E402
from ros_helpers import SpinningNode, start_node_process, stop_process  # noqa: E402
from rosbags.highlevel import AnyReader  # noqa: E402

from cosmos_policy_ros.core import features as F  # noqa: E402
from cosmos_policy_ros.data.bag_recovery import is_complete, recover_bag  # noqa: E402
from cosmos_policy_ros.data.converter import ConvertConfig, convert_bags  # noqa: E402
from cosmos_policy_ros.data.dataset import EpisodeDataset  # noqa: E402
from cosmos_policy_ros.data.synthetic_bag import command_at  # noqa: E402
from cosmos_policy_ros.data.training_set import read_episode_arrays  # noqa: E402
from cosmos_policy_ros.presets import load_preset  # noqa: E402
from cosmos_policy_ros.sim.trajectory_follower import TrajectoryCommand, TrajectoryFollower  # noqa: E402

pytestmark = pytest.mark.ros
PUBLISHER = Path(__file__).with_name("recorder_publisher.py")
NS = 1_000_000_000
KILL_AFTER_S = 5.0  # of published data before kill -9; the bag must keep all but the last flush


class RecorderRun:
    """recorder_node + the publisher script as processes, and a test node watching /diagnostics.

    The fixture that makes it ends both processes and the node, also when the test fails.
    """

    def __init__(self, out: Path, env: dict) -> None:
        self.env = env
        self.spinner = SpinningNode("recorder_test_monitor")
        self.monitor = RecorderMonitor(self.spinner.node)
        self.recorder = start_node_process("cosmos_policy_ros.ros.recorder_node", env, {
            "output_dir": out, "autostart_episode": "true", "autostart_task": "reach", "flush_period_s": 0.5})
        self.publisher: subprocess.Popen | None = None

    def start_publisher(self, duration_s: float) -> None:
        self.publisher = subprocess.Popen([sys.executable, str(PUBLISHER), "--duration-s", str(duration_s)],
                                          env=self.env, stdout=subprocess.PIPE, text=True)
        assert self.publisher.stdout.readline().strip() == "READY", "publisher never matched the recorder"

    def publisher_report(self) -> dict:
        """The publisher's final line (counts per topic, acked_s) once it exited 0."""
        output = self.publisher.communicate(timeout=120)[0]
        assert self.publisher.returncode == 0, output
        return json.loads(output.strip().splitlines()[-1])

    def close(self) -> None:
        for proc in (self.publisher, self.recorder):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()
        self.spinner.close()


@pytest.fixture
def recorder_run(tmp_path, ros_domain):
    run = RecorderRun(tmp_path, ros_domain.env())
    try:
        yield run
    finally:
        run.close()


def _single_bag(out: Path) -> Path:
    bags = [p for p in out.iterdir() if p.is_dir()]
    assert len(bags) == 1, bags
    return bags[0]


def _bag_counts(bag: Path) -> dict[str, int]:
    with AnyReader([bag]) as reader:
        return {c.topic: c.msgcount for c in reader.connections}


def _joint_span_s(bag: Path) -> float:
    """Time between the first and last recorded joint state (header stamps) [s]."""
    with AnyReader([bag]) as reader:
        conns = [c for c in reader.connections if c.topic == "/joint_states"]
        stamps = [reader.deserialize(raw, c.msgtype).header.stamp for c, _, raw in reader.messages(conns)]
    return (stamps[-1].sec - stamps[0].sec) + (stamps[-1].nanosec - stamps[0].nanosec) / NS


def test_sigint_closes_a_complete_bag_with_every_message(tmp_path, recorder_run):
    recorder_run.start_publisher(10.0)
    report = recorder_run.publisher_report()
    recorder_run.monitor.wait_idle_after(report["acked_s"])
    log = stop_process(recorder_run.recorder)
    assert recorder_run.recorder.returncode == 0, log
    recorder_run.monitor.assert_no_loss_inside()
    bag = _single_bag(tmp_path)
    assert is_complete(bag)
    preset = load_preset("sim_arm")
    assert_bag_holds_what_was_published(bag, report["counts"], preset)
    recorded = _bag_counts(bag)
    # the independent MCAP reader + rclpy's own CDR deserializer read the same sequence numbers
    with open(next(bag.glob("*.mcap")), "rb") as f:
        mcap_seqs: dict[str, list[int]] = {}
        for schema, channel, message in make_reader(f).iter_messages():
            if channel.topic in report["counts"]:
                package, _, name = schema.name.split("/")
                msg = deserialize_message(message.data, getattr(importlib.import_module(f"{package}.msg"), name))
                mcap_seqs.setdefault(channel.topic, []).append(parse_frame_id(msg.header.frame_id)[SEQ_KEY])
    assert {t: len(seqs) for t, seqs in mcap_seqs.items()} == {t: recorded[t] for t in report["counts"]}
    assert all(seqs == sorted(set(seqs)) for seqs in mcap_seqs.values())

    # convert the recorded episode: exact actions, ticks = duration x rate (+-1), value formula
    report = convert_bags([bag], tmp_path / "set", preset,
                          ConvertConfig(image_size=16, val_fraction=0.0, unknown_outcome="failure"))
    (episode,) = report.converted
    dropped = sum(episode.dropped_ticks.values())
    assert abs(episode.length - _joint_span_s(bag) * preset.control_rate_hz) <= 1 + dropped
    # the action at each tick is the reference a JTC-like follower tracks, fed the recorded commands
    # as they were received (each: one point, due time_from_start after receipt)
    with AnyReader([bag]) as reader:
        conns = [c for c in reader.connections if c.topic == preset.controller_topic]
        messages = [(t, reader.deserialize(raw, c.msgtype)) for c, t, raw in reader.messages(conns)]
    received = [(t, np.asarray(m.points[0].positions, np.float32)) for t, m in messages]
    dataset = EpisodeDataset(tmp_path / "set", "all")
    arrays = read_episode_arrays(tmp_path / "set", dataset.episodes[0]["file"])
    follower = TrajectoryFollower(tuple(messages[0][1].joint_names), received[0][1].astype(np.float64))
    k = 0
    for tick, action in zip(arrays["timestamps_ns"], arrays["actions"]):
        while k < len(messages) and messages[k][0] <= tick:
            point = messages[k][1].points[0]
            follower.command(TrajectoryCommand(tuple(messages[k][1].joint_names),
                                               np.array([point.time_from_start.sec + point.time_from_start.nanosec / NS]),
                                               np.asarray([point.positions], np.float64)), messages[k][0] / NS)
            k += 1
        np.testing.assert_allclose(action, follower.sample(tick / NS).positions, atol=1e-5)
    assert {tuple(a) for _, a in received} <= {tuple(command_at(n, preset.num_joints).astype(np.float32))
                                               for n in range(len(received))}
    assert all(dataset[i][F.VALUE_TARGET].item() == -1.0 for i in (0, len(dataset) - 1))  # unknown -> failure


def test_kill_9_leaves_a_readable_bag_with_all_but_the_last_second(tmp_path, recorder_run):
    preset = load_preset("sim_arm")
    rate_hz = len(preset.cameras) * 15.0 + 50.0 + 10.0  # recorder_publisher's default rates
    recorder_run.start_publisher(3 * KILL_AFTER_S)
    recorder_run.monitor.wait_written(int(KILL_AFTER_S * rate_hz))
    recorder_run.recorder.kill()
    recorder_run.recorder.communicate(timeout=10)
    bag = _single_bag(tmp_path)
    assert not is_complete(bag)
    assert recover_bag(bag).recovered
    assert _joint_span_s(bag) >= KILL_AFTER_S - 1.0
    with open(next(bag.glob("*.mcap")), "rb") as f:
        assert sum(1 for _ in make_reader(f).iter_messages()) == sum(_bag_counts(bag).values())
