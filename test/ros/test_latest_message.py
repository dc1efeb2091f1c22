# SPDX-License-Identifier: Apache-2.0
"""Sensor frames kept serialized: the header stamp read from the CDR bytes, deserialized on use."""
from __future__ import annotations

import struct

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="raw subscriptions need rclpy")

from rclpy.serialization import serialize_message  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from cosmos_policy_ros.ros import latest_message  # noqa: E402
from cosmos_policy_ros.ros.conversions import image_message_to_rgb, numpy_to_image  # noqa: E402
from cosmos_policy_ros.ros.latest_message import SerializedMessage, cdr_header_stamp_s  # noqa: E402
from cosmos_policy_ros.ros.qos import SENSOR_QOS  # noqa: E402

from ros_helpers import SpinningNode, wait_for  # noqa: E402

SEC, NANOSEC = 1_765_432_100, 987_654_321


def _aloha_frame(value: int = 7) -> Image:
    rng = np.random.RandomState(value)
    image = numpy_to_image(rng.randint(0, 256, (480, 640, 3), dtype=np.uint8))
    image.header.stamp.sec, image.header.stamp.nanosec = SEC, NANOSEC
    return image


@pytest.mark.parametrize("message", [_aloha_frame(), CompressedImage(format="jpeg", data=b"\xff\xd8")])
def test_stamp_is_read_from_the_bytes_without_deserializing(message, monkeypatch: pytest.MonkeyPatch) -> None:
    message.header.stamp.sec, message.header.stamp.nanosec = SEC, NANOSEC
    data = serialize_message(message)
    monkeypatch.setattr(latest_message, "deserialize_message", pytest.fail)  # any call fails the test
    assert SerializedMessage.from_bytes(data, type(message)).stamp_s == pytest.approx(SEC + NANOSEC * 1e-9, abs=1e-9)


def test_big_endian_and_unknown_encapsulations_give_the_same_stamp() -> None:
    data = serialize_message(_aloha_frame())
    big_endian = b"\x00\x00\x00\x00" + struct.pack(">iI", SEC, NANOSEC)
    assert cdr_header_stamp_s(big_endian, Image) == pytest.approx(SEC + NANOSEC * 1e-9, abs=1e-9)
    # PL_CDR_LE (0x03): not read in place; the deserialized header answers (rclpy ignores the kind).
    assert cdr_header_stamp_s(data[:1] + b"\x03" + data[2:], Image) == pytest.approx(SEC + NANOSEC * 1e-9, abs=1e-9)


def test_malformed_bytes_are_a_clear_error_not_a_crash() -> None:
    with pytest.raises(ValueError, match="not a serialized Image"):
        SerializedMessage.from_bytes(b"\x00\x03", Image)
    with pytest.raises(ValueError, match="could not deserialize Image"):
        SerializedMessage(b"\x00\x01\x00\x00" + bytes(8), Image, 0.0).deserialize()


def test_a_raw_subscription_over_dds_keeps_the_newest_frame_and_views_its_pixels(ros_domain) -> None:
    spinner = SpinningNode("latest_message_test")
    try:
        received: list[SerializedMessage] = []
        node = spinner.node
        node.create_subscription(Image, "camera/image_raw",
                                 lambda data: received.append(SerializedMessage.from_bytes(data, Image)),
                                 SENSOR_QOS, raw=True)
        publisher = node.create_publisher(Image, "camera/image_raw", SENSOR_QOS)
        frame = _aloha_frame(3)
        wait_for(lambda: publisher.publish(frame) or received, "a raw frame over DDS")
        newest = received[-1]
        assert isinstance(newest.data, bytes) and newest.stamp_s == pytest.approx(SEC + NANOSEC * 1e-9, abs=1e-9)
        pixels = image_message_to_rgb(newest.deserialize())
        np.testing.assert_array_equal(pixels, np.frombuffer(bytes(frame.data), np.uint8).reshape(480, 640, 3))
    finally:
        spinner.close()
