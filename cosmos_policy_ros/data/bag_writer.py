# SPDX-License-Identifier: Apache-2.0
"""Crash-tolerant rosbag2 MCAP writing: one bag per episode, flushed at least every second.

rosbags' MCAP storage collects messages in an in-memory chunk of up to 1 MiB and writes the
summary (and ``metadata.yaml``) only on ``close()``. :class:`EpisodeBagWriter` closes the
pending chunk and flushes the file every ``flush_period_s``, so a ``kill -9`` loses at most that
much data; the file then lacks only its summary/footer, which :mod:`.bag_recovery` rebuilds.

Splitting (:class:`SplitLimits`, rosbag2's ``--max-bag-size`` / ``--max-bag-duration``): the
episode bag then holds ``<name>_0.mcap``, ``<name>_1.mcap``, ... as rosbag2's SequentialWriter
names them (rosbag2_cpp/src/rosbag2_cpp/writers/sequential_writer.cpp, ``format_storage_uri``,
``should_split_bagfile``: split before the write that would start past a limit), and one
``metadata.yaml`` listing every file. The open file is written in the sub-folder ``<name>_<k>/``
and moved up into the bag folder once closed (summary and footer written), so an ``.mcap`` in the
bag folder is always complete: a consumer may read, archive or delete it while recording goes on.
``metadata.yaml`` is rewritten at each split, so after a crash :mod:`.bag_recovery` only reindexes
the open split. The MCAP index rosbags keeps in memory (one record per 1 MiB chunk) is freed at each split.

:class:`BagWriterThread` owns the writer on a dedicated thread behind a queue bounded in messages
and in bytes: a producer (a ROS callback) never blocks on disk, memory stays bounded when the disk
falls behind (three ALOHA cameras are ~80 MB/s; 2000 queued frames would be 1.8 GB), and a full
queue is counted, never silent. Every ``TRIM_PERIOD_S`` the writer thread gives the C heap's free
pages back to the OS (:mod:`.allocator`): after a backlog drains, RSS falls back.
"""
from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys.store import Typestore

from cosmos_policy_ros.data.allocator import release_free_memory
from cosmos_policy_ros.data.bag_recovery import bag_info, write_split_metadata
from cosmos_policy_ros.data.message_types import build_typestore

LOG = logging.getLogger(__name__)
BAG_VERSION = 9  # rosbag2 format written by Jazzy and later
QUEUE_POLL_S = 0.05  # how often an idle writer thread checks its flush deadline
DEFAULT_QUEUE_BYTES = 256 * 2**20  # ~3 s of ALOHA camera frames waiting for the disk
TRIM_PERIOD_S = 5.0  # how often the writer gives freed frame memory back to the OS (allocator.py)


@dataclass(frozen=True)
class SplitLimits:
    """When the open bag file is closed and the next one started; 0 = no limit (one file).

    Args:
        max_bytes: size of a file (written plus pending chunk) [bytes], as ``--max-bag-size``.
        max_duration_ns: receive-time span of a file [ns], as ``--max-bag-duration``.
    """

    max_bytes: int = 0
    max_duration_ns: int = 0

    def __post_init__(self) -> None:
        if self.max_bytes < 0 or self.max_duration_ns < 0:
            raise ValueError(f"SplitLimits({self.max_bytes}, {self.max_duration_ns}): limits must be >= 0")

    @property
    def enabled(self) -> bool:
        return bool(self.max_bytes or self.max_duration_ns)


class EpisodeBagWriter:
    """One open rosbag2 MCAP bag; connections are added on first use of a topic (in each file).

    Args:
        path: bag folder to create (must not exist).
        typestore: type store with every recorded type (default: Kilted + cosmos_policy_msgs).
        flush_period_s: longest time a written message may stay in memory.
        split: when to start the next file (default: never, one ``<name>.mcap``).
    """

    def __init__(self, path: Path, typestore: Typestore | None = None,
                 flush_period_s: float = 1.0, split: SplitLimits = SplitLimits()) -> None:
        if flush_period_s <= 0:
            raise ValueError(f"flush_period_s={flush_period_s} must be > 0")
        self.path = Path(path)
        self.typestore = typestore or build_typestore()
        self._split = split
        self._custom_data: dict[str, str] = {}
        self._closed_files: list[dict] = []  # each closed split's own metadata
        if split.enabled:
            self.path.mkdir(parents=True)  # FileExistsError: never overwrite a bag
        self._writer = self._open_file()
        self._connections: dict[str, object] = {}
        self._file_start_ns: int | None = None
        self._flush_period_s = flush_period_s
        self._last_flush = time.monotonic()
        self.message_counts: dict[str, int] = {}

    def _open_file(self) -> Writer:
        folder = self.path / f"{self.path.name}_{len(self._closed_files)}" if self._split.enabled else self.path
        writer = Writer(folder, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
        writer.open()
        return writer

    def _file_bytes(self) -> int:
        storage = self._writer.storage  # rosbags' McapWriter: file written so far + pending chunk
        return storage.bio.tell() + storage.chunk.bio.tell()

    def _split_due(self, timestamp_ns: int) -> bool:
        if self._file_start_ns is None:  # never split an empty file
            return False
        limits = self._split
        return ((limits.max_bytes and self._file_bytes() >= limits.max_bytes)
                or (limits.max_duration_ns and timestamp_ns - self._file_start_ns >= limits.max_duration_ns))

    def _close_file(self) -> None:
        """Finish the open split and move its ``.mcap`` up into the bag folder."""
        writer = self._writer
        writer.close()
        folder = writer.path
        self._closed_files.append(bag_info(folder))
        (folder / f"{folder.name}.mcap").rename(self.path / f"{folder.name}.mcap")
        shutil.rmtree(folder)
        write_split_metadata(self.path, self._closed_files, self._custom_data)  # what a crash keeps

    def _start_next_file(self) -> None:
        self._close_file()
        self._writer = self._open_file()
        self._connections = {}
        self._file_start_ns = None
        self._last_flush = time.monotonic()

    def write(self, topic: str, msgtype: str, timestamp_ns: int, cdr: bytes) -> None:
        """Append one CDR-serialized message received at ``timestamp_ns`` (node clock)."""
        if self._split.enabled and self._split_due(timestamp_ns):
            self._start_next_file()
        if self._file_start_ns is None:
            self._file_start_ns = timestamp_ns
        connection = self._connections.get(topic)
        if connection is None:
            connection = self._writer.add_connection(topic, msgtype, typestore=self.typestore)
            self._connections[topic] = connection
        self._writer.write(connection, timestamp_ns, cdr)
        self.message_counts[topic] = self.message_counts.get(topic, 0) + 1
        self.flush_if_due()

    def write_message(self, topic: str, msgtype: str, timestamp_ns: int, message: object) -> None:
        """Serialize a rosbags message object and append it (used for the recorder's own events)."""
        self.write(topic, msgtype, timestamp_ns, bytes(self.typestore.serialize_cdr(message, msgtype)))

    def set_custom_data(self, key: str, value: str) -> None:
        """A ``custom_data`` entry of metadata.yaml (episode id, outcome, ...)."""
        self._custom_data[key] = value
        self._writer.set_custom_data(key, value)

    def flush_if_due(self) -> None:
        if time.monotonic() - self._last_flush >= self._flush_period_s:
            self.flush()

    def flush(self) -> None:
        """Write the pending chunk to disk (a complete, indexed MCAP chunk record)."""
        storage = self._writer.storage  # rosbags' McapWriter: chunk buffer + open file
        if storage.chunk.bio.tell():
            storage.close_chunk()
        storage.bio.flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Finish the bag: last chunk, MCAP summary and footer, metadata.yaml (listing every split)."""
        if not self._split.enabled:
            self._writer.close()
            return
        self._close_file()


@dataclass
class WriterStats:
    """Counters of a :class:`BagWriterThread` (read them from any thread)."""

    written: int = 0
    dropped_queue_full: int = 0
    write_errors: int = 0
    per_topic: dict[str, int] = field(default_factory=dict)


class BagWriterThread:
    """Writes queued messages into the current episode bag from its own thread.

    Messages and episode commands travel through the same FIFO, so a message received before
    ``end_episode`` lands in that episode's bag. Messages arriving with no open bag are discarded
    (the recorder only records inside episodes).

    Args:
        queue_size: bound of the queue; a message that does not fit is dropped and counted.
        flush_period_s: see :class:`EpisodeBagWriter`.
        typestore: see :class:`EpisodeBagWriter`.
        queue_bytes: bound of the serialized bytes waiting in the queue; a message that would
            exceed it is dropped and counted like a full queue.
        split: when an episode bag starts its next file (see :class:`SplitLimits`).
    """

    _OPEN, _CLOSE, _STOP, _MESSAGE, _OBJECT, _CUSTOM, _DISCARD = range(7)

    def __init__(self, queue_size: int = 1000, flush_period_s: float = 1.0,
                 typestore: Typestore | None = None, queue_bytes: int = DEFAULT_QUEUE_BYTES,
                 split: SplitLimits = SplitLimits()) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size={queue_size} must be >= 1")
        if queue_bytes < 1:
            raise ValueError(f"queue_bytes={queue_bytes} must be >= 1")
        self.stats = WriterStats()
        self.typestore = typestore or build_typestore()
        self._flush_period_s = flush_period_s
        self._split = split
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._queue_bytes = queue_bytes
        self._queued_bytes = 0
        self._bytes_lock = threading.Lock()
        self._bag: EpisodeBagWriter | None = None
        self._thread = threading.Thread(target=self._run, name="bag_writer", daemon=True)
        self._thread.start()

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    @property
    def queued_bytes(self) -> int:
        """Serialized bytes waiting in the queue (or being written)."""
        return self._queued_bytes

    def enqueue(self, topic: str, msgtype: str, timestamp_ns: int, cdr: bytes) -> bool:
        """Queue one serialized message; False (and counted) when the queue is full."""
        with self._bytes_lock:
            if self._queued_bytes + len(cdr) > self._queue_bytes:
                self.stats.dropped_queue_full += 1
                return False
            self._queued_bytes += len(cdr)
        try:
            self._queue.put_nowait((self._MESSAGE, (topic, msgtype, timestamp_ns, cdr)))
        except queue.Full:
            self._release_bytes(len(cdr))
            self.stats.dropped_queue_full += 1
            return False
        return True

    def _release_bytes(self, size: int) -> None:
        with self._bytes_lock:
            self._queued_bytes -= size

    def enqueue_object(self, topic: str, msgtype: str, timestamp_ns: int, message: object) -> None:
        """Queue a rosbags message object (control events: blocks rather than drop)."""
        self._queue.put((self._OBJECT, (topic, msgtype, timestamp_ns, message)))

    def open_episode(self, path: Path) -> None:
        self._queue.put((self._OPEN, Path(path)))

    def set_custom_data(self, key: str, value: str) -> None:
        self._queue.put((self._CUSTOM, (key, value)))

    def close_episode(self) -> None:
        self._queue.put((self._CLOSE, None))

    def discard_episode(self, path: Path) -> None:
        """Delete the bag at ``path`` once everything queued before is handled (closed first if open)."""
        self._queue.put((self._DISCARD, Path(path)))

    def stop(self, timeout_s: float | None = None) -> None:
        """Write everything queued, close the open bag and end the thread."""
        self._queue.put((self._STOP, None))
        self._thread.join(timeout_s)

    def _run(self) -> None:
        last_trim = time.monotonic()
        while True:
            if time.monotonic() - last_trim >= TRIM_PERIOD_S:
                release_free_memory()  # frames of a drained backlog leave RSS (allocator.py)
                last_trim = time.monotonic()
            try:
                kind, payload = self._queue.get(timeout=QUEUE_POLL_S)
            except queue.Empty:
                if self._bag is not None:
                    self._bag.flush_if_due()
                continue
            if kind == self._STOP:
                self._close_bag()
                return
            try:
                self._handle(kind, payload)
            except Exception:  # noqa: BLE001 - one bad message must not stop the recording
                self.stats.write_errors += 1
                LOG.exception("bag writer: could not handle a %s item", kind)
            finally:
                if kind == self._MESSAGE:
                    self._release_bytes(len(payload[3]))

    def _handle(self, kind: int, payload: object) -> None:
        if kind == self._OPEN:
            self._close_bag()
            self._bag = EpisodeBagWriter(payload, self.typestore, self._flush_period_s, self._split)
        elif kind == self._CLOSE:
            self._close_bag()
        elif kind == self._DISCARD:
            if self._bag is not None and self._bag.path == payload:
                self._close_bag()
            shutil.rmtree(payload, ignore_errors=True)
        elif self._bag is None:
            return
        elif kind == self._CUSTOM:
            self._bag.set_custom_data(*payload)
        elif kind == self._OBJECT:
            self._bag.write_message(*payload)
        else:
            self._bag.write(*payload)
            self.stats.written += 1
            topic = payload[0]
            self.stats.per_topic[topic] = self.stats.per_topic.get(topic, 0) + 1

    def _close_bag(self) -> None:
        if self._bag is not None:
            bag, self._bag = self._bag, None
            bag.close()
