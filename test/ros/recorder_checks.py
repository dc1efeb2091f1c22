# SPDX-License-Identifier: Apache-2.0
"""Checks shared by the recorder tests: when the recorder has taken everything, and that a bag
holds, decoded, what ``recorder_publisher.py`` published (matched by sequence number).

Best-effort (SENSOR QoS) samples may be dropped by DDS, so those topics are held to "every
recorded message is the one published under its sequence number, in order, and at least
``MIN_BEST_EFFORT_DELIVERED`` of them arrived"; the reliable command topic, acknowledged by the
recorder before the publisher reports, must be complete.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from PIL import Image as PILImage
from recorder_publisher import JOINT_RATE_HZ, SEQ_KEY, parse_frame_id
from ros_helpers import wait_for
from rosbags.highlevel import AnyReader

from cosmos_policy_ros.data.synthetic_bag import command_at, joint_positions_at
from cosmos_policy_ros.presets import RobotPreset

MIN_BEST_EFFORT_DELIVERED = 0.9
JPEG_TOLERANCE = 3  # a uniform image survives jpeg within a few levels
WRITER_STATUS_SUFFIX = ": bag writer"  # recorder_node's diagnostics status name
NS = 1_000_000_000


@dataclass(frozen=True)
class WriterReport:
    stamp_s: float
    values: dict[str, str]


class RecorderMonitor:
    """The recorder's /diagnostics bag-writer reports, received on a test node."""

    def __init__(self, node) -> None:
        self.reports: list[WriterReport] = []
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        stamp_s = msg.header.stamp.sec + msg.header.stamp.nanosec / NS
        self.reports += [WriterReport(stamp_s, {kv.key: kv.value for kv in s.values})
                         for s in msg.status if s.name.endswith(WRITER_STATUS_SUFFIX)]

    def _idle_since(self, after_s: float) -> bool:
        late = [r for r in self.reports if r.stamp_s > after_s]
        return len(late) >= 2 and late[-1].values["written"] == late[-2].values["written"] \
            and late[-1].values["queue_depth"] == "0"

    def wait_idle_after(self, after_s: float) -> None:
        """Until two reports stamped after ``after_s`` (system clock) show nothing new written and
        an empty queue: everything that reached the recorder by then is in the writer."""
        wait_for(lambda: self._idle_since(after_s), "the recorder to have written everything it received")

    def last_written(self) -> int:
        return int(self.reports[-1].values["written"])

    def wait_written(self, count: int) -> None:
        wait_for(lambda: self.reports and int(self.reports[-1].values["written"]) >= count,
                 f"the recorder to report {count} messages written")

    def assert_no_loss_inside(self) -> None:
        """The recorder itself dropped nothing (queue) and failed no write."""
        last = self.reports[-1].values
        assert (last["dropped_queue_full"], last["write_errors"]) == ("0", "0"), last


def _expected_pixels(msg, msgtype: str, seq: int) -> tuple[np.ndarray, int]:
    shade = parse_frame_id(msg.header.frame_id)["shade"]
    assert shade == seq % 256
    if msgtype == "sensor_msgs/msg/Image":
        pixels = np.frombuffer(bytes(msg.data), np.uint8)
        assert (msg.encoding, len(pixels)) == ("rgb8", msg.height * msg.width * 3)
        return pixels, 0
    image = np.asarray(PILImage.open(io.BytesIO(bytes(msg.data))))
    return image, JPEG_TOLERANCE if msg.format == "jpeg" else 0


def assert_bag_holds_what_was_published(bag: Path, published: dict[str, int], preset: RobotPreset) -> None:
    """Decode every message of every published topic and match it to the published one."""
    with AnyReader([bag]) as reader:
        by_topic = {topic: [(c.msgtype, reader.deserialize(raw, c.msgtype))
                            for c, _, raw in reader.messages([c for c in reader.connections if c.topic == topic])]
                    for topic in published}
    for topic, count in published.items():
        messages = by_topic[topic]
        seqs = [parse_frame_id(m.header.frame_id)[SEQ_KEY] for _, m in messages]
        assert seqs == sorted(set(seqs)) and all(0 <= s < count for s in seqs), (topic, seqs)
        if topic == "/" + preset.controller_topic.lstrip("/"):
            assert seqs == list(range(count)), f"{topic}: reliable commands missing {set(range(count)) - set(seqs)}"
        else:
            assert len(seqs) >= MIN_BEST_EFFORT_DELIVERED * count, \
                f"{topic}: {len(seqs)}/{count} recorded, missing {sorted(set(range(count)) - set(seqs))}"
        for seq, (msgtype, msg) in zip(seqs, messages):
            if msgtype == "sensor_msgs/msg/JointState":
                assert list(msg.name) == list(preset.joints)
                np.testing.assert_array_equal(msg.position, joint_positions_at(seq / JOINT_RATE_HZ, preset.num_joints))
            elif msgtype == "trajectory_msgs/msg/JointTrajectory":
                np.testing.assert_array_equal(msg.points[0].positions, command_at(seq, preset.num_joints))
            else:
                pixels, tolerance = _expected_pixels(msg, msgtype, seq)
                assert np.abs(pixels.astype(int) - seq % 256).max() <= tolerance, (topic, seq)
