# SPDX-License-Identifier: Apache-2.0
"""Test helper process: publishes a preset's streams at known rates with known content.

Cameras (SENSOR QoS), joint states (SENSOR) and JointTrajectory commands on the controller topic
(reliable, deep history) whose single point is the known target ``command_at(n)``. Every message n of a topic
carries ``header.frame_id = frame_id(n)`` (its sequence number, and for cameras the shade), so a
recorded message can be matched to the one published. Frame n of a camera is a uniform image of
shade ``n % 256``: an Image (rgb8), or for a ``compressed: true`` camera a CompressedImage, jpeg for
the first camera and png for the others. Joint state n holds ``joint_positions_at(n / joint rate)``.
Waits until every publisher is matched and the recorder acknowledged command 0, prints ``READY`` and, after ``--duration-s`` and once
every reliable command is acknowledged, one JSON line: the published counts per topic and
``acked_s``, the (system clock) time of that acknowledgement.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time

import numpy as np
import rclpy
from builtin_interfaces.msg import Duration
from PIL import Image as PILImage
from rclpy.duration import Duration as RclpyDuration
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image, JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from cosmos_policy_ros.data.synthetic_bag import command_at, joint_positions_at
from cosmos_policy_ros.presets import load_preset
from cosmos_policy_ros.ros.dds_env import apply_local_dds_defaults
from cosmos_policy_ros.ros.qos import EVENTS_QOS, SENSOR_QOS

MATCH_TIMEOUT_S = 20.0
ACK_TIMEOUT_S = 20.0
SEQ_KEY, SHADE_KEY = "seq", "shade"
JOINT_RATE_HZ = 50.0


def frame_id(seq: int, shade: int | None = None) -> str:
    """``seq=<n>`` (+ `` shade=<s>`` for camera frames)."""
    return f"{SEQ_KEY}={seq}" + ("" if shade is None else f" {SHADE_KEY}={shade}")


def parse_frame_id(text: str) -> dict[str, int]:
    """Inverse of :func:`frame_id`."""
    return {key: int(value) for key, value in (part.split("=") for part in text.split())}


def camera_message(cam, index: int, shade: int) -> Image | CompressedImage:
    """Frame of a uniform ``shade``: raw rgb8, or jpeg (first camera) / png (others) if compressed."""
    pixels = np.full((cam.height, cam.width, 3), shade, np.uint8)
    if not cam.compressed:
        return Image(height=cam.height, width=cam.width, encoding="rgb8", step=cam.width * 3,
                     data=pixels.tobytes())
    image_format = "jpeg" if index == 0 else "png"
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format=image_format.upper())
    return CompressedImage(format=image_format, data=buffer.getvalue())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--image-rate-hz", type=float, default=15.0)
    parser.add_argument("--joint-rate-hz", type=float, default=JOINT_RATE_HZ)
    parser.add_argument("--command-rate-hz", type=float, default=10.0)
    parser.add_argument("--preset", default="sim_arm", help="robot preset name or YAML path")
    args = parser.parse_args()
    apply_local_dds_defaults()
    rclpy.init()
    preset = load_preset(args.preset)
    node = Node("recorder_test_publisher")
    cams = [(node.create_publisher(CompressedImage if c.compressed else Image, c.topic, SENSOR_QOS), c)
            for c in preset.cameras]
    joints = node.create_publisher(JointState, preset.joint_states_topic, SENSOR_QOS)
    # Not the arbiter's COMMAND_QOS: its depth-1 writer history drops a sample that is not yet
    # acknowledged when the next is published (seen here under load: 2 of 100 lost before the
    # recorder). A deep reliable history makes this a loss-free reference stream, so any gap in
    # the bag is the recorder's.
    commands = node.create_publisher(JointTrajectory, preset.controller_topic, EVENTS_QOS)
    publishers = [p for p, _ in cams] + [joints, commands]
    deadline = time.monotonic() + MATCH_TIMEOUT_S
    while any(p.get_subscription_count() == 0 for p in publishers):
        if time.monotonic() > deadline:
            print("no recorder subscribed", file=sys.stderr)
            return 1
        time.sleep(0.05)
    counts = {p.topic_name: 0 for p in publishers}
    dt_command = Duration(sec=0, nanosec=int(1e9 / args.command_rate_hz))

    def publish_command() -> None:
        seq = counts[commands.topic_name]
        command = JointTrajectory(joint_names=list(preset.joints), points=[
            JointTrajectoryPoint(positions=command_at(seq, preset.num_joints).tolist(), time_from_start=dt_command)])
        command.header.frame_id = frame_id(seq)
        commands.publish(command)
        counts[commands.topic_name] += 1

    # Matched both ways: the writer has seen the reader (above) and the reader has acknowledged a
    # sample (command 0), so the reader knows the writer too and later samples are not discarded.
    publish_command()
    if not commands.wait_for_all_acked(RclpyDuration(seconds=ACK_TIMEOUT_S)):
        print("the recorder never acknowledged the first command", file=sys.stderr)
        return 1
    print("READY", flush=True)
    start = time.monotonic()
    rates = [args.image_rate_hz, args.joint_rate_hz, args.command_rate_hz]
    next_due = [start, start, start + 1.0 / args.command_rate_hz]
    while time.monotonic() - start < args.duration_s:
        now = time.monotonic()
        stamp = node.get_clock().now().to_msg()
        if now >= next_due[0]:
            for index, (pub, cam) in enumerate(cams):
                seq = counts[pub.topic_name]
                img = camera_message(cam, index, seq % 256)
                img.header.stamp = stamp
                img.header.frame_id = frame_id(seq, seq % 256)
                pub.publish(img)
                counts[pub.topic_name] += 1
            next_due[0] += 1.0 / rates[0]
        if now >= next_due[1]:
            seq = counts[joints.topic_name]
            msg = JointState(name=list(preset.joints),
                             position=joint_positions_at(seq / args.joint_rate_hz, preset.num_joints).tolist())
            msg.header.stamp = stamp
            msg.header.frame_id = frame_id(seq)
            joints.publish(msg)
            counts[joints.topic_name] += 1
            next_due[1] += 1.0 / rates[1]
        if now >= next_due[2]:
            publish_command()
            next_due[2] += 1.0 / rates[2]
        time.sleep(max(0.0, min(next_due) - time.monotonic()))
    if not commands.wait_for_all_acked(RclpyDuration(seconds=ACK_TIMEOUT_S)):
        print("the recorder never acknowledged every command", file=sys.stderr)
        return 1
    print(json.dumps({"counts": counts, "acked_s": time.time()}), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
