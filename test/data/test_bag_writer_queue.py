# SPDX-License-Identifier: Apache-2.0
"""BagWriterThread's queue is bounded in bytes as well as messages: a slow disk costs counted drops,
not unbounded memory, and every accepted message is written."""
from __future__ import annotations

import threading

import pytest

from cosmos_policy_ros.data import bag_writer
from cosmos_policy_ros.data.bag_writer import BagWriterThread
from cosmos_policy_ros.data.message_types import build_typestore

FRAME_BYTES = 1000
QUEUE_BYTES = 3 * FRAME_BYTES
TOPIC, MSGTYPE = "/camera", "std_msgs/msg/String"


def test_queued_bytes_are_bounded_and_released_as_the_disk_catches_up(tmp_path, monkeypatch) -> None:
    disk_free = threading.Event()
    written: list[int] = []
    monkeypatch.setattr(bag_writer.EpisodeBagWriter, "write",
                        lambda _self, topic, msgtype, stamp, cdr: (disk_free.wait(), written.append(stamp)))
    writer = BagWriterThread(queue_size=100, typestore=build_typestore(), queue_bytes=QUEUE_BYTES)
    writer.open_episode(tmp_path / "ep")
    frame = bytes(FRAME_BYTES)
    assert writer.enqueue(TOPIC, MSGTYPE, 0, frame)  # the writer takes it and blocks on the "disk"
    while writer.queue_depth:  # synchronise: the open and the first frame have left the queue
        threading.Event().wait(0.01)
    accepted = [writer.enqueue(TOPIC, MSGTYPE, i, frame) for i in range(1, 6)]
    # The blocked frame still counts until written: two more fit in 3000 bytes, the rest are dropped.
    assert accepted == [True, True, False, False, False]
    assert writer.stats.dropped_queue_full == 3
    disk_free.set()
    writer.stop(timeout_s=10)
    assert written == [0, 1, 2]
    assert writer.enqueue(TOPIC, MSGTYPE, 9, frame)  # every byte was released again


def test_a_zero_byte_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="queue_bytes"):
        BagWriterThread(queue_bytes=0)
