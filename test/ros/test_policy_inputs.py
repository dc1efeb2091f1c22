# SPDX-License-Identifier: Apache-2.0
"""policy_node fed every class of malformed camera and joint message over real DDS (issue 24).

The node runs as a subprocess (random-weight tiny model, autostart) on a copy of the sim_arm preset
whose primary camera is compressed; this process publishes good sensors and, one class at a time,
replaces one topic's messages with a malformed kind. For each the node must report it in
``~/status`` (naming the topic), run no inference on it, keep running, and produce chunks again
once the inputs are good.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

pytest.importorskip("rclpy", reason="policy_node input tests need rclpy")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image, JointState  # noqa: E402

from cosmos_policy_msgs.msg import ActionChunk, PolicyStatus  # noqa: E402
from cosmos_policy_ros.presets import ROBOTS_DIR, load_preset  # noqa: E402
from cosmos_policy_ros.ros.conversions import numpy_to_compressed, numpy_to_image  # noqa: E402
from cosmos_policy_ros.ros.qos import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS  # noqa: E402
from cosmos_policy_ros.sim.arm_sim import HOME_POSITIONS  # noqa: E402

from ros_helpers import SpinningNode, end_processes, start_node_process, stop_process, wait_for  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]
SENSOR_PERIOD_S = 0.1
START_TIMEOUT_S = 90.0  # torch/diffusers import + model build + warm-up on a shared CPU
NODE = "/policy_node"
FAR_S = 1000.0  # far outside observation.max_age_s


def _compressed_preset(tmp_path) -> str:
    data = yaml.safe_load((ROBOTS_DIR / "sim_arm.yaml").read_text())
    data["cameras"][1]["compressed"] = True  # primary: a CompressedImage topic
    data["name"] = "sim_arm_compressed"
    path = tmp_path / "sim_arm_compressed.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


class InputHarness:
    """policy_node subprocess; this process publishes its sensors, good or one malformed kind."""

    def __init__(self, env: dict, preset_path: str) -> None:
        self.preset = load_preset(preset_path)
        self.proc = start_node_process("cosmos_policy_ros.ros.policy_node", env, {
            "robot": preset_path, "allow_random_init": "true", "autostart": "true",
            "instruction": "'reach the block'", "random_init.action_center": str(HOME_POSITIONS.tolist()),
            "observation.max_age_s": 2.0})
        self.spinner = SpinningNode("policy_input_harness")
        node = self.spinner.node
        self.chunks: list[ActionChunk] = []
        self.statuses: list[PolicyStatus] = []
        self.rejected_inputs = 0.0
        node.create_subscription(ActionChunk, f"{NODE}/action_chunk", self.chunks.append, COMMAND_QOS)
        node.create_subscription(PolicyStatus, f"{NODE}/status", self.statuses.append, LATCHED_QOS)
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self.defect: tuple[str, object] | None = None  # (topic, function stamp -> malformed message)
        self._pubs = {c.topic: node.create_publisher(CompressedImage if c.compressed else Image, c.topic,
                                                     SENSOR_QOS) for c in self.preset.cameras}
        self._pubs[self.preset.joint_states_topic] = node.create_publisher(
            JointState, self.preset.joint_states_topic, SENSOR_QOS)
        node.create_timer(SENSOR_PERIOD_S, self._publish_sensors)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            for kv in status.values:
                if kv.key == "rejected_inputs":
                    self.rejected_inputs = float(kv.value)

    def good(self, topic: str, stamp):
        if topic == self.preset.joint_states_topic:
            return JointState(header=_header(stamp), name=list(self.preset.joints),
                              position=HOME_POSITIONS.tolist())
        camera = next(c for c in self.preset.cameras if c.topic == topic)
        image = np.full((camera.height, camera.width, 3), 120, np.uint8)
        msg = numpy_to_compressed(image, "png") if camera.compressed else numpy_to_image(image)
        msg.header.stamp = stamp
        return msg

    def _publish_sensors(self) -> None:
        stamp = self.spinner.node.get_clock().now().to_msg()
        defect = self.defect
        for topic, publisher in self._pubs.items():
            if defect is not None and defect[0] == topic:
                publisher.publish(defect[1](self, stamp))
            else:
                publisher.publish(self.good(topic, stamp))

    def close(self) -> str:
        try:
            return stop_process(self.proc)
        finally:
            self.spinner.close()


def _header(stamp):
    from std_msgs.msg import Header
    return Header(stamp=stamp)


def _shifted(stamp, seconds: float):
    from builtin_interfaces.msg import Time
    return Time(sec=max(0, stamp.sec + int(seconds)), nanosec=stamp.nanosec)


def _image(h: int, w: int, **fields):
    def make(harness, stamp):
        msg = numpy_to_image(np.full((h, w, 3), 60, np.uint8))
        msg.header.stamp = stamp
        for name, value in fields.items():
            setattr(msg, name, value(msg) if callable(value) else value)
        return msg
    return make


def _compressed(data: bytes | None = None, size: int = 224):
    def make(harness, stamp):
        msg = numpy_to_compressed(np.zeros((size, size, 3), np.uint8), "png") if data is None else \
            CompressedImage(format="jpeg", data=data)
        msg.header.stamp = stamp
        return msg
    return make


def _joints(names=None, positions=None, shift_s: float = 0.0):
    def make(harness, stamp):
        joints = list(harness.preset.joints)
        return JointState(header=_header(_shifted(stamp, shift_s)), name=names(joints) if names else joints,
                          position=positions(HOME_POSITIONS.tolist()) if positions else HOME_POSITIONS.tolist())
    return make


def _late_image(shift_s: float):
    def make(harness, stamp):
        return harness.good("wrist_camera/image_raw", _shifted(stamp, shift_s))
    return make


WRIST, PRIMARY, JOINTS = "wrist_camera/image_raw", "scene_camera/image_raw", "joint_states"
REJECTED = "input rejected, no inference"
CASES = [  # (label, topic, malformed message, words the status must contain)
    ("image of the wrong size", WRIST, _image(112, 112), [REJECTED, WRIST, "112x112"]),
    ("image step too small", WRIST, _image(224, 224, step=100), [REJECTED, WRIST, "step=100"]),
    ("image encoding unknown", WRIST, _image(224, 224, encoding="yuv9000"), [REJECTED, WRIST, "yuv9000"]),
    ("image buffer truncated", WRIST, _image(224, 224, data=lambda m: bytes(m.data[:1000])),
     [REJECTED, WRIST, "1000 bytes"]),
    ("compressed image that does not decode", PRIMARY, _compressed(b"not a jpeg"),
     [REJECTED, PRIMARY, "could not be decoded"]),
    ("compressed image of the wrong size", PRIMARY, _compressed(size=64), [REJECTED, PRIMARY, "64x64"]),
    ("joint state with NaN", JOINTS, _joints(positions=lambda p: p[:2] + [math.nan] + p[3:]),
     [REJECTED, JOINTS, "not finite"]),
    ("joint state missing a joint", JOINTS, _joints(names=lambda n: n[:-1], positions=lambda p: p[:-1]),
     [REJECTED, JOINTS, "missing"]),
    ("joint state with fewer values than names", JOINTS, _joints(positions=lambda p: p[:-2]),
     [REJECTED, JOINTS, "values but"]),
    ("joint state with a duplicate joint", JOINTS, _joints(names=lambda n: n[:-1] + n[:1]),
     [REJECTED, JOINTS, "duplicate"]),
    ("joint state stamped far in the past", JOINTS, _joints(shift_s=-FAR_S), ["stale", JOINTS]),
    ("image stamped far in the future", WRIST, _late_image(FAR_S), ["skew", WRIST]),
]


@pytest.fixture
def harness(ros_domain, tmp_path):
    made = InputHarness(ros_domain.env(), _compressed_preset(tmp_path))
    yield made
    try:
        end_processes([made.proc])
    finally:
        made.spinner.close()


def test_every_malformed_input_class_is_reported_and_the_node_keeps_running(harness):
    wait_for(lambda: len(harness.chunks) >= 2, "chunks from good inputs", START_TIMEOUT_S)
    for label, topic, make, words in CASES:
        seen = len(harness.statuses)
        harness.defect = (topic, make)
        wait_for(lambda: any(all(w in s.reason for w in words) for s in harness.statuses[seen:]),
                 f"the status for: {label} ({words})")
        harness.defect = None
        count = len(harness.chunks)
        wait_for(lambda: len(harness.chunks) >= count + 1, f"chunks again after: {label}", START_TIMEOUT_S)
        assert harness.proc.poll() is None, f"policy_node died on: {label}"
    # every rejected message is counted (bad stamps are reported as stale/skew, not counted)
    wait_for(lambda: harness.rejected_inputs >= len(CASES) - 2, "the rejected_inputs counter in /diagnostics")
    log = harness.close()
    assert harness.proc.returncode == 0, log
