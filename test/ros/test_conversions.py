# SPDX-License-Identifier: Apache-2.0
"""Image / CompressedImage / JointState / stamp conversions: exact round trips, errors name the field."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="conversions build ROS messages (needs the ROS 2 Python wheels)")

from builtin_interfaces.msg import Duration, Time  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image, JointState  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from cosmos_policy_ros.ros import conversions  # noqa: E402
from cosmos_policy_ros.ros.conversions import (  # noqa: E402
    ENCODINGS,
    compressed_to_numpy,
    duration_to_seconds,
    image_message_to_rgb,
    image_to_numpy,
    joint_state_to_vector,
    numpy_to_compressed,
    numpy_to_image,
    seconds_to_duration,
    seconds_to_stamp,
    stamp_to_seconds,
)

HEIGHT, WIDTH, ROW_PADDING_BYTES = 5, 7, 3


def random_pixels(encoding: str, seed: int = 0) -> np.ndarray:
    pixel = ENCODINGS[encoding]
    shape = (HEIGHT, WIDTH) if pixel.channels == 1 else (HEIGHT, WIDTH, pixel.channels)
    return np.random.default_rng(seed).integers(0, np.iinfo(pixel.dtype).max + 1, shape,
                                                dtype=pixel.dtype)


def padded_message(array: np.ndarray, encoding: str, big_endian: bool) -> Image:
    """An Image built by hand (not by numpy_to_image) with row padding and a chosen byte order."""
    rows = array.reshape(HEIGHT, -1).astype(array.dtype.newbyteorder(">" if big_endian else "<"))
    row_bytes = rows.shape[1] * rows.dtype.itemsize
    data = b"".join(row.tobytes() + b"\xab" * ROW_PADDING_BYTES for row in rows)
    return Image(height=HEIGHT, width=WIDTH, encoding=encoding, is_bigendian=big_endian,
                 step=row_bytes + ROW_PADDING_BYTES, data=data)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_numpy_image_numpy_round_trip_is_exact(encoding):
    array = random_pixels(encoding)
    header = Header(frame_id="cam", stamp=Time(sec=3, nanosec=4))
    msg = numpy_to_image(array, encoding, header)
    assert (msg.height, msg.width, msg.encoding, msg.is_bigendian) == (HEIGHT, WIDTH, encoding, False)
    assert msg.step == array[0].nbytes and msg.header == header
    decoded = image_to_numpy(msg)
    assert decoded.dtype == array.dtype and decoded.shape == array.shape
    np.testing.assert_array_equal(decoded, array)


@pytest.mark.parametrize("big_endian", [False, True], ids=["little", "big"])
@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_padded_rows_and_byte_order_decode_exactly(encoding, big_endian):
    array = random_pixels(encoding, seed=1)
    msg = padded_message(array, encoding, big_endian)
    decoded = image_to_numpy(msg)
    assert decoded.dtype.isnative
    np.testing.assert_array_equal(decoded, array)
    # and back: the re-encoded minimal-step message decodes to the same pixels
    np.testing.assert_array_equal(image_to_numpy(numpy_to_image(decoded, encoding)), array)


def test_native_order_decode_is_a_read_only_view_of_the_message():
    msg = padded_message(random_pixels("rgb8"), "rgb8", big_endian=False)
    decoded = image_to_numpy(msg)
    assert np.shares_memory(decoded, np.frombuffer(msg.data, dtype=np.uint8))
    assert not decoded.flags.writeable


def test_mono_accepts_a_trailing_channel_axis():
    array = random_pixels("mono8")
    np.testing.assert_array_equal(image_to_numpy(numpy_to_image(array[:, :, None], "mono8")), array)


def test_data_length_mismatch_names_the_field():
    msg = numpy_to_image(random_pixels("rgb8"))
    msg.data = bytes(msg.data)[:-1]
    with pytest.raises(ValueError, match=r"Image\.data has .* height\*step"):
        image_to_numpy(msg)


def test_step_too_small_names_the_field():
    msg = numpy_to_image(random_pixels("bgr8"), "bgr8")
    msg.step -= 1
    msg.data = bytes(msg.height * msg.step)
    with pytest.raises(ValueError, match=r"Image\.step"):
        image_to_numpy(msg)


def test_unknown_encoding_names_the_field(monkeypatch):
    monkeypatch.setattr(conversions, "_cv_bridge", lambda: None)
    msg = numpy_to_image(random_pixels("rgb8"))
    msg.encoding = "yuv422_yuy2"
    with pytest.raises(ValueError, match=r"Image\.encoding='yuv422_yuy2'"):
        image_to_numpy(msg)
    with pytest.raises(ValueError, match="encoding='nv12'"):
        numpy_to_image(random_pixels("rgb8"), "nv12")


@pytest.mark.parametrize("array, encoding", [
    (np.zeros((4, 4, 3), np.float32), "rgb8"),     # wrong dtype: never cast
    (np.zeros((4, 4), np.uint8), "rgb8"),          # missing channels
    (np.zeros((4, 4, 4), np.uint8), "bgr8"),       # wrong channel count
    (np.zeros((4, 4), np.uint8), "16UC1"),         # 8-bit data for a 16-bit encoding
    (np.zeros((4,), np.uint8), "mono8"),           # not an image
])
def test_array_that_does_not_fit_the_encoding_is_rejected(array, encoding):
    with pytest.raises(ValueError, match=encoding):
        numpy_to_image(array, encoding)


# What ROS documents for each encoding we decode ourselves: (numChannels, bitDepth) from
# sensor_msgs/include/sensor_msgs/image_encodings.hpp (ros2/common_interfaces).
DOCUMENTED_ENCODINGS = {"rgb8": (3, 8), "bgr8": (3, 8), "rgba8": (4, 8), "bgra8": (4, 8),
                        "mono8": (1, 8), "mono16": (1, 16), "16UC1": (1, 16)}


def test_encoding_table_is_the_documented_one():
    assert {name: (p.channels, p.dtype.itemsize * 8) for name, p in ENCODINGS.items()} == DOCUMENTED_ENCODINGS
    assert all(p.dtype.kind == "u" for p in ENCODINGS.values())  # every listed encoding is unsigned


class DocumentedBridge:
    """cv_bridge's ``imgmsg_to_cv2(msg, "passthrough")`` as vision_opencv documents and implements it
    (cv_bridge/python/cv_bridge/core.py): the element type and channel count come from the encoding,
    the byte order from ``is_bigendian``, each row is ``step`` bytes of which the first
    ``width * channels * itemsize`` are pixels, and the result is in native byte order.
    Written from that description, independently of our conversions module."""

    @staticmethod
    def imgmsg_to_cv2(msg: Image, desired_encoding: str = "passthrough") -> np.ndarray:
        assert desired_encoding == "passthrough"
        channels, bits = DOCUMENTED_ENCODINGS[msg.encoding]
        element = np.dtype(f"{'>' if msg.is_bigendian else '<'}u{bits // 8}")
        rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)
        pixels = rows[:, :msg.width * channels * element.itemsize].copy().view(element)
        shape = (msg.height, msg.width) if channels == 1 else (msg.height, msg.width, channels)
        return pixels.reshape(shape).astype(element.newbyteorder("="))


def bridges() -> list:
    """The documented behaviour always; the real cv_bridge as well where it is installed."""
    real = pytest.param("cv_bridge", marks=pytest.mark.skipif(
        conversions._cv_bridge() is None, reason="cv_bridge (ROS 2 vision_opencv) is not installed; "
                                                  "the documented behaviour is checked instead"))
    return ["documented", real]


@pytest.mark.parametrize("bridge", bridges())
@pytest.mark.parametrize("big_endian", [False, True], ids=["little", "big"])
@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_decode_matches_cv_bridge(encoding, big_endian, bridge):
    """Padded rows (step > width*bytes) and both byte orders decode as cv_bridge decodes them."""
    reference = DocumentedBridge() if bridge == "documented" else conversions._cv_bridge()
    msg = padded_message(random_pixels(encoding, seed=2), encoding, big_endian)
    expected = reference.imgmsg_to_cv2(msg, desired_encoding="passthrough")
    decoded = image_to_numpy(msg)
    assert decoded.dtype == expected.dtype and decoded.shape == expected.shape
    np.testing.assert_array_equal(decoded, expected)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_encode_fills_the_fields_as_cv_bridge_does(encoding):
    """cv2_to_imgmsg (core.py): step = len(data) // height, little-endian data = the array's bytes."""
    array = random_pixels(encoding, seed=4)
    msg = numpy_to_image(array, encoding)
    assert (msg.encoding, msg.height, msg.width, msg.is_bigendian) == (encoding, HEIGHT, WIDTH, False)
    assert msg.step == len(msg.data) // msg.height
    assert bytes(msg.data) == array.astype(array.dtype.newbyteorder("<")).tobytes()


@pytest.mark.parametrize("array", [
    np.random.default_rng(3).integers(0, 256, (6, 8, 3), dtype=np.uint8),
    np.random.default_rng(4).integers(0, 256, (6, 8, 4), dtype=np.uint8),
    np.random.default_rng(5).integers(0, 256, (6, 8), dtype=np.uint8),
    np.random.default_rng(6).integers(0, 65536, (6, 8), dtype=np.uint16),
], ids=["rgb", "rgba", "mono8", "mono16"])
def test_png_round_trip_is_exact(array):
    msg = numpy_to_compressed(array, "png", Header(frame_id="cam"))
    assert msg.format == "png" and msg.header.frame_id == "cam"
    decoded = compressed_to_numpy(msg)
    assert decoded.dtype == array.dtype
    np.testing.assert_array_equal(decoded, array)


def test_jpeg_round_trip_is_close():
    gradient = np.linspace(0, 255, 32 * 32 * 3).reshape(32, 32, 3).astype(np.uint8)
    msg = numpy_to_compressed(gradient, "jpeg")
    decoded = compressed_to_numpy(msg)
    assert msg.format == "jpeg" and decoded.shape == gradient.shape
    assert np.abs(decoded.astype(int) - gradient).mean() < 3.0


def test_bad_compressed_input_is_rejected():
    with pytest.raises(ValueError, match=r"CompressedImage\.data"):
        compressed_to_numpy(CompressedImage(format="jpeg", data=b"not an image"))
    with pytest.raises(ValueError, match="fmt='bmp'"):
        numpy_to_compressed(np.zeros((2, 2, 3), np.uint8), "bmp")
    with pytest.raises(ValueError, match="jpeg"):
        numpy_to_compressed(np.zeros((2, 2), np.uint16), "jpeg")


def test_model_input_is_rgb8_whatever_the_camera_sends():
    rgb = random_pixels("rgb8")
    bgr, rgba = rgb[..., ::-1].copy(), np.concatenate([rgb, np.full((HEIGHT, WIDTH, 1), 7, np.uint8)], 2)
    for message in (numpy_to_image(rgb, "rgb8"), numpy_to_image(bgr, "bgr8"), numpy_to_image(rgba, "rgba8"),
                    numpy_to_compressed(rgb, "png")):
        np.testing.assert_array_equal(image_message_to_rgb(message), rgb)
    mono = random_pixels("mono8")
    np.testing.assert_array_equal(image_message_to_rgb(numpy_to_image(mono, "mono8")), np.stack([mono] * 3, 2))
    with pytest.raises(ValueError, match="not 8-bit"):
        image_message_to_rgb(numpy_to_image(random_pixels("mono16"), "mono16"))


def joint_state(names, positions, velocities=()):
    return JointState(name=list(names), position=list(positions), velocity=list(velocities))


def test_joint_state_is_reordered_by_name():
    msg = joint_state(["c", "extra", "a", "b"], [3.0, 9.0, 1.0, 2.0], [30.0, 90.0, 10.0, 20.0])
    np.testing.assert_array_equal(joint_state_to_vector(msg, ["a", "b", "c"]), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(joint_state_to_vector(msg, ["b"], field="velocity"), [20.0])


@pytest.mark.parametrize("msg, field, match", [
    (joint_state(["a", "b"], [1.0, 2.0]), "position", r"missing configured joint\(s\) \['c'\]"),
    (joint_state(["a", "b", "c"], [1.0, float("nan"), 3.0]), "position", r"not finite .*\['b'\]"),
    (joint_state(["a", "b", "a", "c"], [1.0, 2.0, 3.0, 4.0]), "position", r"duplicate joint\(s\) \['a'\]"),
    (joint_state(["a", "b", "c"], [1.0, 2.0]), "position", r"JointState\.position has 2 values"),
    (joint_state(["a", "b", "c"], [1.0, 2.0, 3.0]), "velocity", r"JointState\.velocity has 0 values"),
    (joint_state(["a", "b", "c"], [1.0, 2.0, 3.0]), "torque", r"field='torque'"),
])
def test_bad_joint_state_raises_naming_the_field(msg, field, match):
    with pytest.raises(ValueError, match=match):
        joint_state_to_vector(msg, ["a", "b", "c"], field=field)


TIME_CONVERSIONS = [(seconds_to_stamp, stamp_to_seconds, Time),
                    (seconds_to_duration, duration_to_seconds, Duration)]


@pytest.mark.parametrize("to_msg, to_seconds, msg_type", TIME_CONVERSIONS)
@pytest.mark.parametrize("seconds", [0.0, 0.04, 1.5, 1_700_000_000.123456789, -0.25])
def test_stamp_and_duration_round_trip(to_msg, to_seconds, msg_type, seconds):
    msg = to_msg(seconds)
    assert isinstance(msg, msg_type) and 0 <= msg.nanosec < 1_000_000_000
    assert to_seconds(msg) == pytest.approx(seconds, abs=1e-9)


@pytest.mark.parametrize("to_msg, to_seconds, msg_type", TIME_CONVERSIONS)
def test_stamp_and_duration_keep_nanoseconds_and_reject_non_finite(to_msg, to_seconds, msg_type):
    assert to_msg(2.000000001) == msg_type(sec=2, nanosec=1)
    for bad in (float("inf"), float("nan")):
        with pytest.raises(ValueError, match="seconds"):
            to_msg(bad)


def test_joint_trajectory_points_carry_rows_times_and_optional_velocities():
    """The one trajectory builder the arbiter and policy_node share: point k = row k at its time."""
    positions = np.array([[0.0, 1.0], [0.5, 1.5], [1.0, 2.0]])
    velocities = np.array([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    msg = conversions.joint_trajectory(("a", "b"), 12.25, positions, [0.0, 0.1, 0.2], velocities)
    assert list(msg.joint_names) == ["a", "b"]
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (12, 250_000_000)
    assert [list(p.positions) for p in msg.points] == positions.tolist()
    assert [list(p.velocities) for p in msg.points] == velocities.tolist()
    assert [(p.time_from_start.sec, p.time_from_start.nanosec) for p in msg.points] == [
        (0, 0), (0, 100_000_000), (0, 200_000_000)]
    plain = conversions.joint_trajectory(("a", "b"), 0.0, positions[:2], [0.0, 0.1])
    assert len(plain.points) == 2 and all(len(p.velocities) == 0 for p in plain.points)
