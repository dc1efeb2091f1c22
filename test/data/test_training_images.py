# SPDX-License-Identifier: Apache-2.0
"""A converted frame is the image policy_node feeds the model for the same raw message.

ALOHA's cameras publish 640x480; the model sees 224x224 through the official client's chain
(-> 256 -> 224, bicubic; serving/camera_input.py). The training set must hold those pixels, not a
direct 640x480 -> 224 resize: the bag's raw CDR bytes (what the node's raw camera subscription
receives) go through ``PolicyNode._validated_inputs`` here and must equal the stored step.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
import pytest
from rosbags.highlevel import AnyReader

from cosmos_policy_ros.data.converter import ConvertConfig, convert_bags
from cosmos_policy_ros.data.synthetic_bag import SyntheticEpisode, write_synthetic_episode
from cosmos_policy_ros.data.training_set import read_episode_arrays, read_index
from cosmos_policy_ros.presets import load_preset

pytest.importorskip("rclpy", reason="policy_node's own input path needs the ROS 2 Python wheels")
from sensor_msgs.msg import Image, JointState  # noqa: E402

from cosmos_policy_ros.ros.latest_message import SerializedMessage  # noqa: E402
from cosmos_policy_ros.ros.policy_node import PolicyNode  # noqa: E402


def _raw_frames(bag, topics: dict[str, str]) -> dict[str, list[tuple[int, bytes]]]:
    """camera name -> (header stamp [ns], raw CDR bytes) of every frame, in stamp order."""
    frames: dict[str, list[tuple[int, bytes]]] = {name: [] for name in topics}
    with AnyReader([bag]) as reader:
        by_topic = {c.topic: c for c in reader.connections}
        for name, topic in topics.items():
            for connection, _, raw in reader.messages(connections=[by_topic["/" + topic]]):
                stamp = reader.deserialize(raw, connection.msgtype).header.stamp
                frames[name].append((stamp.sec * 10**9 + stamp.nanosec, bytes(raw)))
    return {name: sorted(items) for name, items in frames.items()}


def test_aloha_training_frames_are_what_policy_node_feeds_the_model(tmp_path):
    preset = load_preset("aloha")
    bag = write_synthetic_episode(tmp_path / "ep", preset, SyntheticEpisode(duration_s=0.5, textured=True))
    report = convert_bags([bag], tmp_path / "set", preset, ConvertConfig(val_fraction=0.0))
    assert report.written, report.format()
    index = read_index(tmp_path / "set")
    assert index["image_size"] == 224
    arrays = read_episode_arrays(tmp_path / "set", index["episodes"][0]["file"])
    raw = _raw_frames(bag, {c.name: c.topic for c in preset.cameras})
    # _validated_inputs reads only the preset and the camera threads (observation.parallel_cameras)
    with ThreadPoolExecutor(len(preset.cameras)) as camera_pool:
        node = SimpleNamespace(preset=preset, _camera_pool=camera_pool)
        joints = JointState(name=list(preset.joints), position=[0.0] * preset.num_joints)
        for step, tick_ns in enumerate(arrays["timestamps_ns"]):
            messages = {preset.joint_states_topic: joints}
            for camera in preset.cameras:  # the newest frame at the tick, as the aligner picks it
                _, data = [f for f in raw[camera.name] if f[0] <= tick_ns][-1]
                messages[camera.topic] = SerializedMessage.from_bytes(data, Image)
            fed, _ = PolicyNode._validated_inputs(node, messages)
            for k, camera in enumerate(preset.cameras):
                assert fed[camera.name].shape == (224, 224, 3)
                assert np.array_equal(arrays["images"][step, k], fed[camera.name]), (step, camera.name)


def test_a_frame_of_another_size_than_the_driver_publishes_is_refused(tmp_path):
    """As policy_node refuses it: the bag is skipped with the camera and both sizes named."""
    preset = load_preset("aloha")
    bag = write_synthetic_episode(tmp_path / "ep", preset, SyntheticEpisode(duration_s=0.5, image_size=224))
    report = convert_bags([bag], tmp_path / "set", preset, ConvertConfig(val_fraction=0.0))
    assert not report.written
    assert "cam_left_wrist: frame is 224x224, the preset's driver publishes 640x480" in report.episodes[0].skipped
