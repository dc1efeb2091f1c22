# SPDX-License-Identifier: Apache-2.0
"""Crash-tolerant rosbag2 MCAP writing: one bag per episode, flushed at least every second.

rosbags' MCAP storage collects messages in an in-memory chunk of up to 1 MiB and writes the
summary (and ``metadata.yaml``) only on ``close()``. :class:`EpisodeBagWriter` closes the
pending chunk and flushes the file every ``flush_period_s``, so a ``kill -9`` loses at most that
much data; the file then lacks only its summary/footer, which :mod:`.bag_recovery` rebuilds.

:class:`BagWriterThread` owns the writer on a dedicated thread behind a queue bounded in messages
and in bytes: a producer (a ROS callback) never blocks on disk, memory stays bounded when the disk
falls behind (three ALOHA cameras are ~80 MB/s; 2000 queued frames would be 1.8 GB), and a full
queue is counted, never silent.
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

from .message_types import build_typestore

LOG = logging.getLogger(__name__)
BAG_VERSION = 9  # rosbag2 format written by Jazzy and later
QUEUE_POLL_S = 0.05  # how often an idle writer thread checks its flush deadline
DEFAULT_QUEUE_BYTES = 256 * 2**20  # ~3 s of ALOHA camera frames waiting for the disk


class EpisodeBagWriter:
    """One open rosbag2 MCAP bag; connections are added on first use of a topic.

    Args:
        path: bag folder to create (must not exist).
        typestore: type store with every recorded type (default: Kilted + cosmos_policy_msgs).
        flush_period_s: longest time a written message may stay in memory.
    """

    def __init__(self, path: Path, typestore: Typestore | None = None,
                 flush_period_s: float = 1.0) -> None:
        if flush_period_s <= 0:
            raise ValueError(f"flush_period_s={flush_period_s} must be > 0")
        self.path = Path(path)
        self.typestore = typestore or build_typestore()
        self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._connections: dict[str, object] = {}
        self._flush_period_s = flush_period_s
        self._last_flush = time.monotonic()
        self.message_counts: dict[str, int] = {}

    def write(self, topic: str, msgtype: str, timestamp_ns: int, cdr: bytes) -> None:
        """Append one CDR-serialized message received at ``timestamp_ns`` (node clock)."""
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
        """Finish the bag: last chunk, MCAP summary and footer, metadata.yaml."""
        self._writer.close()


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
    """

    _OPEN, _CLOSE, _STOP, _MESSAGE, _OBJECT, _CUSTOM, _DISCARD = range(7)

    def __init__(self, queue_size: int = 1000, flush_period_s: float = 1.0,
                 typestore: Typestore | None = None, queue_bytes: int = DEFAULT_QUEUE_BYTES) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size={queue_size} must be >= 1")
        if queue_bytes < 1:
            raise ValueError(f"queue_bytes={queue_bytes} must be >= 1")
        self.stats = WriterStats()
        self.typestore = typestore or build_typestore()
        self._flush_period_s = flush_period_s
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
        while True:
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
            self._bag = EpisodeBagWriter(payload, self.typestore, self._flush_period_s)
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
