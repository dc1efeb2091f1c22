# SPDX-License-Identifier: Apache-2.0
"""Physical-sense checks of the command arbiter's inputs, before any of their values is used.

The arbiter is the only publisher to the arm's controller, so whatever another process sends it
(a policy chunk, a teleop trajectory or target, a joint state) is checked field by field here,
ROS-free: finite values everywhere (steps that will be dropped as already past included), agreeing
name lists, time steps that survive ``builtin_interfaces/Duration`` (int32 sec, uint32 nanosec)
and agree with the message's own ``time_from_start`` fields. What fails raises
:class:`InputError` naming the field; nothing is reinterpreted (no wrap, no clip, no default).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cosmos_policy_ros import stamps
from cosmos_policy_ros.stamps import NANOSECONDS_PER_SECOND

# Smallest time step a chunk may have: 1 ms, far above Duration's 1 ns resolution, so successive
# time_from_start values never round to the same nanosecond.
MIN_STEP_S = 1e-3
# Longest span of one trajectory: one hour, far inside Duration's int32 seconds (2^31 s), so no
# time_from_start ever wraps when published.
MAX_TRAJECTORY_SPAN_S = 3600.0
# A chunk's time_from_start[k] must equal k * dt_s to this precision (ns rounding on the wire).
TIME_MATCH_TOLERANCE_S = 1e-6


class InputError(ValueError):
    """An input fails validation and is rejected whole; the message names the field and value."""


def check_finite(field: str, values: Sequence[float] | np.ndarray) -> np.ndarray:
    """``values`` as a float array; every value finite (else InputError naming the first bad index)."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(f"{field}: not numeric ({err})") from None
    bad = np.argwhere(~np.isfinite(array))
    if bad.size:
        index = tuple(int(i) for i in bad[0])
        raise InputError(f"{field}: non-finite value {array[index]} at index {index if len(index) > 1 else index[0]}")
    return array


def check_duration_fields(field: str, sec: int, nanosec: int) -> float:
    """A ``builtin_interfaces/Duration``'s fields as seconds; ``nanosec`` must be below 1e9."""
    if not 0 <= nanosec < NANOSECONDS_PER_SECOND:
        raise InputError(f"{field}: nanosec={nanosec} outside [0, 1e9)")
    return stamps.to_seconds(sec, nanosec)


def check_stamp(field: str, stamp_s: float) -> float:
    """A header stamp: finite and not negative (0 means "now" where the message allows it)."""
    if not (math.isfinite(stamp_s) and stamp_s >= 0.0):
        raise InputError(f"{field}: stamp {stamp_s!r} must be finite and >= 0")
    return float(stamp_s)


def check_chunk_dt(dt_s: float, max_dt_s: float, num_steps: int) -> float:
    """A chunk's control period: finite, in [MIN_STEP_S, max_dt_s], span within MAX_TRAJECTORY_SPAN_S."""
    if not (isinstance(dt_s, (int, float)) and math.isfinite(dt_s)):
        raise InputError(f"dt_s={dt_s!r} is not a finite number")
    if not MIN_STEP_S <= dt_s <= max_dt_s:
        raise InputError(f"dt_s={dt_s!r} outside [{MIN_STEP_S}, {max_dt_s}] s")
    if (num_steps - 1) * dt_s > MAX_TRAJECTORY_SPAN_S:
        raise InputError(f"{num_steps} steps of dt_s={dt_s} span more than {MAX_TRAJECTORY_SPAN_S} s")
    return float(dt_s)


def check_chunk_step_times(step_times_s: Sequence[float], dt_s: float) -> None:
    """A chunk's ``time_from_start`` fields must be k * dt_s (the two timing fields agree)."""
    times = check_finite("trajectory.points[].time_from_start", step_times_s)
    expected = np.arange(len(times)) * dt_s
    off = np.abs(times - expected) > TIME_MATCH_TOLERANCE_S
    if np.any(off):
        k = int(np.argmax(off))
        raise InputError(f"trajectory.points[{k}].time_from_start={times[k]:.9g} s disagrees with "
                         f"{k} * dt_s = {expected[k]:.9g} s")


def check_trajectory_times(step_times_s: Sequence[float]) -> np.ndarray:
    """A teleop trajectory's times: finite, >= 0, strictly increasing by at least MIN_STEP_S, bounded."""
    times = check_finite("points[].time_from_start", step_times_s)
    if times.ndim != 1 or times.size == 0:
        raise InputError("trajectory has no points")
    if times[0] < 0.0 or times[-1] > MAX_TRAJECTORY_SPAN_S:
        raise InputError(f"time_from_start {times[0]:.9g}..{times[-1]:.9g} s outside [0, {MAX_TRAJECTORY_SPAN_S}] s")
    steps = np.diff(times)
    if np.any(steps < MIN_STEP_S):
        k = int(np.argmax(steps < MIN_STEP_S)) + 1
        raise InputError(f"points[{k}].time_from_start={times[k]:.9g} s is not at least {MIN_STEP_S} s after "
                         f"the previous point ({times[k - 1]:.9g} s)")
    return times


def check_name_lists(joint_names: Sequence[str], trajectory_joint_names: Sequence[str]) -> tuple[str, ...]:
    """ActionChunk's two name lists: either may be empty, but when both are given they must agree."""
    names, inner = tuple(joint_names), tuple(trajectory_joint_names)
    if names and inner and names != inner:
        raise InputError(f"joint_names {list(names)} disagree with trajectory.joint_names {list(inner)}")
    chosen = names or inner
    if not chosen:
        raise InputError("no joint names (joint_names and trajectory.joint_names are both empty)")
    return chosen


def check_optional_vector(field: str, values: Sequence[float], num: int) -> np.ndarray | None:
    """An optional per-joint vector (JointState velocity/effort, a point's velocities): empty or
    ``num`` finite values."""
    if len(values) == 0:
        return None
    if len(values) != num:
        raise InputError(f"{field} has {len(values)} values for {num} joints")
    return check_finite(field, values)
