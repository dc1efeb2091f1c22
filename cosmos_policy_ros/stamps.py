# SPDX-License-Identifier: Apache-2.0
"""ROS time as numbers, ROS-free: ``builtin_interfaces/Time`` and ``Duration`` hold an int32
``sec`` and a uint32 ``nanosec`` in [0, 1e9). The nodes, the arbiter's input checks, the bag
reader/writer and the demo all convert through these, so a stamp means the same number everywhere.
"""
from __future__ import annotations

import math

NANOSECONDS_PER_SECOND = 1_000_000_000


def to_seconds(sec: int, nanosec: int) -> float:
    """The two fields as float seconds."""
    return sec + nanosec / NANOSECONDS_PER_SECOND


def to_nanoseconds(sec: int, nanosec: int) -> int:
    """The two fields as integer nanoseconds (exact: the bag clock)."""
    return int(sec) * NANOSECONDS_PER_SECOND + int(nanosec)


def from_seconds(seconds: float) -> tuple[int, int]:
    """Whole seconds and nanoseconds in [0, 1e9), rounded to the nearest nanosecond.

    Raises:
        ValueError: ``seconds`` is not finite.
    """
    if not math.isfinite(seconds):
        raise ValueError(f"seconds={seconds!r} must be finite")
    return from_nanoseconds(round(seconds * NANOSECONDS_PER_SECOND))


def from_nanoseconds(nanoseconds: int) -> tuple[int, int]:
    """Whole seconds and nanoseconds in [0, 1e9) (floor division, also for negative times)."""
    sec, nanosec = divmod(int(nanoseconds), NANOSECONDS_PER_SECOND)
    return int(sec), int(nanosec)
