# SPDX-License-Identifier: Apache-2.0
"""Message <-> numpy conversions for the nodes: images, compressed images, joint states, stamps/durations,
and the one place a serving :class:`~cosmos_policy_ros.serving.decision.Decision` becomes messages.

Every check names the offending message field, and nothing is ever reshaped silently: an Image
whose ``data`` disagrees with ``height * step``, an unknown ``encoding`` or a JointState missing a
configured joint raises ``ValueError``. Raw images decode zero-copy (a read-only view into the
message buffer, row padding skipped by strides) when their byte order is the machine's.

The real ROS 2 ``cv_bridge`` is used when importable, for encodings outside the table below
(Bayer, float depth, ...); for the table's encodings both give identical arrays (tested where
cv_bridge is installed).
"""
from __future__ import annotations

import functools
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from builtin_interfaces.msg import Duration, Time
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Header
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from cosmos_policy_msgs.msg import ActionChunk, PlanCandidates
from cosmos_policy_ros import stamps
from cosmos_policy_ros.serving.decision import Decision, PlanSummary
from cosmos_policy_ros.stamps import NANOSECONDS_PER_SECOND

JOINT_STATE_FIELDS = ("position", "velocity", "effort")
COMPRESSED_FORMATS = ("jpeg", "png")
DEFAULT_JPEG_QUALITY = 95
# Pillow mode of a decoded image -> numpy dtype it is returned as.
_PIL_MODE_DTYPES = {"RGB": np.uint8, "RGBA": np.uint8, "L": np.uint8, "I;16": np.uint16}


@dataclass(frozen=True)
class PixelFormat:
    """Memory layout of one ``sensor_msgs/Image`` encoding."""

    channels: int
    dtype: np.dtype


ENCODINGS: dict[str, PixelFormat] = {
    "rgb8": PixelFormat(3, np.dtype(np.uint8)),
    "bgr8": PixelFormat(3, np.dtype(np.uint8)),
    "rgba8": PixelFormat(4, np.dtype(np.uint8)),
    "bgra8": PixelFormat(4, np.dtype(np.uint8)),
    "mono8": PixelFormat(1, np.dtype(np.uint8)),
    "mono16": PixelFormat(1, np.dtype(np.uint16)),
    "16UC1": PixelFormat(1, np.dtype(np.uint16)),
}


@functools.lru_cache(maxsize=1)
def _cv_bridge() -> Any | None:
    """A CvBridge when the ROS 2 cv_bridge package is installed, else None."""
    try:
        from cv_bridge import CvBridge
    except ImportError:
        return None
    return CvBridge()


def _image_shape(height: int, width: int, channels: int) -> tuple[int, ...]:
    return (height, width) if channels == 1 else (height, width, channels)


def image_to_numpy(msg: Image) -> np.ndarray:
    """Decode a ``sensor_msgs/Image`` without copying where possible.

    Args:
        msg: the image; ``step`` may include row padding, ``is_bigendian`` is honoured.

    Returns:
        (H, W, C) for colour encodings (channel order as the encoding says), (H, W) for mono.
        A read-only view into ``msg.data`` when the byte order is native (``np.array(x)`` for a
        writable copy); a native-endian copy otherwise.

    Raises:
        ValueError: unknown ``encoding`` (and no cv_bridge), ``step`` too small, or ``data``
            length not equal to ``height * step``.
    """
    pixel = ENCODINGS.get(msg.encoding)
    if pixel is None:
        bridge = _cv_bridge()
        if bridge is not None:
            return bridge.imgmsg_to_cv2(msg, desired_encoding="passthrough")
        raise ValueError(f"Image.encoding={msg.encoding!r} is not supported; "
                         f"supported: {sorted(ENCODINGS)} (install cv_bridge for more)")
    pixel_bytes = pixel.channels * pixel.dtype.itemsize
    if msg.step < msg.width * pixel_bytes:
        raise ValueError(f"Image.step={msg.step} is smaller than width*bytes_per_pixel="
                         f"{msg.width}*{pixel_bytes} for encoding {msg.encoding}")
    if len(msg.data) != msg.height * msg.step:
        raise ValueError(f"Image.data has {len(msg.data)} bytes but height*step = "
                         f"{msg.height}*{msg.step} = {msg.height * msg.step}")
    dtype = pixel.dtype.newbyteorder(">" if msg.is_bigendian else "<")
    strides = (msg.step, pixel_bytes, pixel.dtype.itemsize)[:3 if pixel.channels > 1 else 2]
    view = np.ndarray(shape=_image_shape(msg.height, msg.width, pixel.channels), dtype=dtype,
                      buffer=memoryview(msg.data).cast("B"), strides=strides)
    if not dtype.isnative:
        return view.astype(pixel.dtype.newbyteorder("="))
    view.flags.writeable = False
    return view


def numpy_to_image(array: np.ndarray, encoding: str = "rgb8", header: Header | None = None) -> Image:
    """Encode an array as a ``sensor_msgs/Image`` with minimal ``step`` and little-endian data.

    Args:
        array: (H, W, C) for colour encodings, (H, W) or (H, W, 1) for mono; its dtype must be the
            encoding's (uint8, or uint16 for mono16/16UC1). It is never cast.
        encoding: one of ``ENCODINGS``.
        header: copied into the message (stamp and frame_id); default an empty header.

    Raises:
        ValueError: unknown encoding, or a shape/dtype that does not fit it.
    """
    pixel = ENCODINGS.get(encoding)
    if pixel is None:
        raise ValueError(f"encoding={encoding!r} is not supported; supported: {sorted(ENCODINGS)}")
    if array.dtype != pixel.dtype:
        raise ValueError(f"array dtype {array.dtype} does not match encoding {encoding} "
                         f"({pixel.dtype}); convert explicitly")
    if pixel.channels == 1 and array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]  # (H, W, 1) -> (H, W)
    if array.shape[2:] != (() if pixel.channels == 1 else (pixel.channels,)) or array.ndim < 2:
        expected = "(H, W)" if pixel.channels == 1 else f"(H, W, {pixel.channels})"
        raise ValueError(f"array shape {array.shape} does not fit encoding {encoding} (expected {expected})")
    height, width = array.shape[:2]
    little_endian = np.ascontiguousarray(array, dtype=pixel.dtype.newbyteorder("<"))
    return Image(
        header=header if header is not None else Header(),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=False,
        step=width * pixel.channels * pixel.dtype.itemsize,
        data=little_endian.tobytes(),
    )


def compressed_to_numpy(msg: CompressedImage) -> np.ndarray:
    """Decode a JPEG/PNG ``sensor_msgs/CompressedImage`` with Pillow.

    Returns:
        (H, W, 3) RGB or (H, W, 4) RGBA uint8 for colour, (H, W) uint8 or uint16 for mono. Colour
        is always in RGB order, whatever producer-side order the ``format`` string names.

    Raises:
        ValueError: ``data`` cannot be decoded, or decodes to an unsupported pixel mode.
    """
    from PIL import Image as PilImage, UnidentifiedImageError

    try:
        with PilImage.open(io.BytesIO(bytes(msg.data))) as decoded:
            decoded.load()
            mode = decoded.mode
            if mode not in _PIL_MODE_DTYPES:
                decoded = decoded.convert("RGB") if mode in ("P", "CMYK", "YCbCr") else decoded
                mode = decoded.mode
            if mode not in _PIL_MODE_DTYPES:
                raise ValueError(f"CompressedImage.data decodes to unsupported pixel mode {mode!r}")
            return np.asarray(decoded, dtype=_PIL_MODE_DTYPES[mode])
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"CompressedImage.data ({len(msg.data)} bytes, format={msg.format!r}) "
                         f"could not be decoded: {err}") from err


def numpy_to_compressed(array: np.ndarray, fmt: str = "jpeg", header: Header | None = None,
                        jpeg_quality: int = DEFAULT_JPEG_QUALITY) -> CompressedImage:
    """Encode an RGB/RGBA/mono array as a JPEG or PNG ``sensor_msgs/CompressedImage``.

    Args:
        array: (H, W, 3) RGB or (H, W) mono uint8; PNG also takes (H, W, 4) RGBA uint8 and
            (H, W) uint16.
        fmt: ``jpeg`` (lossy) or ``png`` (lossless); also written to ``format``.
        header: copied into the message; default an empty header.
        jpeg_quality: JPEG quality 1..95.

    Raises:
        ValueError: unknown ``fmt`` or an array JPEG/PNG cannot hold.
    """
    from PIL import Image as PilImage

    if fmt not in COMPRESSED_FORMATS:
        raise ValueError(f"fmt={fmt!r} must be one of {COMPRESSED_FORMATS}")
    lossless_only = array.dtype == np.uint16 or (array.ndim == 3 and array.shape[2] == 4)
    if array.dtype not in (np.uint8, np.uint16) or (fmt == "jpeg" and lossless_only):
        raise ValueError(f"array {array.dtype} {array.shape} cannot be stored as {fmt}")
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4) and array.dtype == np.uint8)):
        raise ValueError(f"array shape {array.shape} must be (H, W), (H, W, 3) or (H, W, 4)")
    buffer = io.BytesIO()
    options = {"quality": jpeg_quality} if fmt == "jpeg" else {}
    PilImage.fromarray(np.ascontiguousarray(array)).save(buffer, format=fmt.upper(), **options)
    return CompressedImage(header=header if header is not None else Header(), format=fmt,
                           data=buffer.getvalue())


def image_message_to_rgb(message: Image | CompressedImage) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an Image (rgb/bgr/rgba/bgra/mono 8-bit) or a CompressedImage."""
    if isinstance(message, CompressedImage):
        array = compressed_to_numpy(message)
    else:
        array = image_to_numpy(message)
        if message.encoding.startswith("bgr"):
            array = array[..., 2::-1]
    if array.dtype != np.uint8:
        raise ValueError(f"image dtype {array.dtype} is not 8-bit")
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)  # (H, W) -> (H, W, 3)
    return np.ascontiguousarray(array[..., :3])


class MessageError(ValueError):
    """A sensor message that cannot be a valid input (wrong size, encoding, truncated, undecodable,
    non-finite or missing joints); the text names the topic and the field."""


def camera_rgb(message: Image | CompressedImage, topic: str, height: int, width: int) -> np.ndarray:
    """The (height, width, 3) uint8 RGB a camera ``topic`` must deliver, or MessageError saying why not.

    ``height``/``width`` are what the preset says the driver publishes: an image of any other size
    is a wrong camera or driver setting, never resized silently (``serving.camera_input`` resizes
    the declared size to the model's).
    """
    try:
        rgb = image_message_to_rgb(message)
    except ValueError as err:
        raise MessageError(f"{topic}: {err}") from err
    if rgb.shape != (height, width, 3):
        raise MessageError(f"{topic}: image is {rgb.shape[1]}x{rgb.shape[0]}, the preset's camera driver "
                           f"publishes {width}x{height}")
    return rgb


def policy_joint_positions(message: JointState, topic: str, joint_names: Sequence[str]) -> np.ndarray:
    """The configured joints' positions from ``message``, or MessageError naming topic and fault.

    Extra joints are allowed (a joint_state_broadcaster publishes every joint of the robot, e.g. a
    mimic finger); duplicates, length mismatches, missing or non-finite joints are not.
    """
    try:
        return joint_state_to_vector(message, joint_names)
    except ValueError as err:
        raise MessageError(f"{topic}: {err}") from err


def joint_state_to_vector(msg: JointState, joint_names: Sequence[str],
                          field: str = "position") -> np.ndarray:
    """One JointState field in a configured joint order, looked up by name (never by index).

    Args:
        msg: the joint state; it may list more joints than configured, in any order.
        joint_names: the configured order (e.g. the preset's joints).
        field: ``position``, ``velocity`` or ``effort``.

    Returns:
        (len(joint_names),) float64.

    Raises:
        ValueError: unknown field, duplicate names, ``field`` length != ``name`` length, a missing
            configured joint, or a non-finite value for a configured joint.
    """
    if field not in JOINT_STATE_FIELDS:
        raise ValueError(f"field={field!r} must be one of {JOINT_STATE_FIELDS}")
    names = list(msg.name)
    index = {name: i for i, name in enumerate(names)}
    if len(index) != len(names):
        duplicates = sorted({name for name in names if names.count(name) > 1})
        raise ValueError(f"JointState.name has duplicate joint(s) {duplicates}")
    values = np.asarray(getattr(msg, field), dtype=np.float64)
    if values.shape != (len(names),):
        raise ValueError(f"JointState.{field} has {values.size} values but JointState.name has "
                         f"{len(names)}")
    missing = [name for name in joint_names if name not in index]
    if missing:
        raise ValueError(f"JointState.name is missing configured joint(s) {missing}")
    vector = values[[index[name] for name in joint_names]]  # (J,)
    bad = [name for name, value in zip(joint_names, vector) if not math.isfinite(value)]
    if bad:
        raise ValueError(f"JointState.{field} is not finite for joint(s) {bad}")
    return vector


def stamp_to_seconds(stamp: Time) -> float:
    """``builtin_interfaces/Time`` (or a header stamp) as float seconds."""
    return stamps.to_seconds(stamp.sec, stamp.nanosec)


def duration_to_seconds(duration: Duration) -> float:
    """``builtin_interfaces/Duration`` (e.g. a trajectory point's ``time_from_start``) as float seconds."""
    return stamp_to_seconds(duration)  # the same two fields


def seconds_to_stamp(seconds: float) -> Time:
    """Float seconds as ``builtin_interfaces/Time``, rounded to the nearest nanosecond.

    Raises:
        ValueError: ``seconds`` is not finite.
    """
    sec, nanosec = stamps.from_seconds(seconds)
    return Time(sec=sec, nanosec=nanosec)


def seconds_to_duration(seconds: float) -> Duration:
    """Float seconds as ``builtin_interfaces/Duration``, rounded to the nearest nanosecond.

    Raises:
        ValueError: ``seconds`` is not finite.
    """
    sec, nanosec = stamps.from_seconds(seconds)
    return Duration(sec=sec, nanosec=nanosec)


def joint_trajectory(joint_names: Sequence[str], stamp_s: float, positions: np.ndarray,
                     times_from_start_s: Sequence[float], velocities: np.ndarray | None = None) -> JointTrajectory:
    """A JointTrajectory stamped ``stamp_s``: point k holds ``positions[k]`` (and ``velocities[k]``)
    due at stamp + ``times_from_start_s[k]``; the one place the nodes build trajectory points."""
    msg = JointTrajectory(joint_names=list(joint_names))
    msg.header.stamp = seconds_to_stamp(stamp_s)
    for k, (row, tfs) in enumerate(zip(positions, times_from_start_s)):
        point = JointTrajectoryPoint(positions=np.asarray(row, dtype=np.float64).tolist(),
                                     time_from_start=seconds_to_duration(tfs))
        if velocities is not None:
            point.velocities = np.asarray(velocities[k], dtype=np.float64).tolist()
        msg.points.append(point)
    return msg


def chunk_message(decision: Decision, dt_s: float, execute_steps: int, stamp_s: float, sequence: int,
                  model_name: str, joint_names: Sequence[str]) -> ActionChunk:
    """An ActionChunk stamped with the observation time; point k is due at stamp + k * dt."""
    msg = ActionChunk(joint_names=list(joint_names), dt_s=dt_s, execute_steps=execute_steps,
                      value=float(decision.value), candidate_index=decision.candidate_index,
                      num_candidates=decision.num_candidates, model_time_ms=float(decision.model_ms),
                      sequence=sequence, model_name=model_name)
    msg.header.stamp = seconds_to_stamp(stamp_s)
    msg.trajectory = joint_trajectory(joint_names, stamp_s, decision.actions,
                                      [k * dt_s for k in range(len(decision.actions))])
    return msg


def plan_candidates_message(plan: PlanSummary, header: Header, chunk_sequence: int,
                            call_for_teleop: bool) -> PlanCandidates:
    """The PlanCandidates message of one decision (published beside its chunk, same header)."""
    return PlanCandidates(
        header=header, chunk_sequence=chunk_sequence, values=list(plan.values),
        value_spreads=list(plan.value_spreads), num_value_samples=list(plan.num_value_samples),
        seeds=list(plan.seeds), selected_index=plan.selected_index, reason=plan.reason,
        num_requested=plan.num_requested, num_evaluated=plan.num_evaluated, budget_ms=plan.budget_ms,
        elapsed_ms=plan.elapsed_ms, aggregation=plan.aggregation, call_for_teleop=call_for_teleop)


__all__ = [
    "ENCODINGS", "NANOSECONDS_PER_SECOND", "MessageError", "camera_rgb", "chunk_message", "compressed_to_numpy", "joint_trajectory",
    "policy_joint_positions", "duration_to_seconds", "image_to_numpy", "joint_state_to_vector", "numpy_to_compressed",
    "numpy_to_image", "plan_candidates_message", "seconds_to_duration", "seconds_to_stamp", "stamp_to_seconds",
]
