# SPDX-License-Identifier: Apache-2.0
"""A short history of measured joint states, to look up the state at an observation's time.

Delta action spaces are relative to the state *at the observation* the chunk was computed from,
which is older than the newest joint state when the chunk arrives; this buffer keeps the last
few seconds so the arbiter can pick the sample nearest to the observation stamp.

:class:`PlausibilityFilter` decides which measured states may enter the buffer at all: a reading
beyond a bound by more than the sensor tolerance, or one that jumped further than the joint can
move since the last accepted reading, is not a pose the arm can be in; it is reported and never
used (as a seam, a hold target or a delta action's origin). A real jump (the sim reset, a
re-homed encoder) is accepted once ``confirmations`` consecutive readings agree with it.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import math

import numpy as np

from cosmos_policy_ros.control.limits import LimitArrays, bounds_excess

# A measured joint may move this much faster than its velocity limit between two readings
# (tracking overshoot, stamp jitter) before the reading counts as a jump.
JUMP_VELOCITY_FACTOR = 1.5

DEFAULT_CAPACITY = 512


@dataclass(frozen=True)
class JointSample:
    """One measured state: time [s], positions (D,), velocities (D,) or None when not measured."""

    stamp_s: float
    positions: np.ndarray
    velocities: np.ndarray | None


class JointStateBuffer:
    """Keeps the newest ``capacity`` samples in arrival order."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"JointStateBuffer capacity={capacity} must be >= 1")
        self._samples: deque[JointSample] = deque(maxlen=capacity)

    def add(self, sample: JointSample) -> None:
        self._samples.append(sample)

    @property
    def latest(self) -> JointSample | None:
        return self._samples[-1] if self._samples else None

    def nearest(self, stamp_s: float) -> JointSample | None:
        """The sample whose stamp is closest to ``stamp_s`` (None when empty)."""
        if not self._samples:
            return None
        stamps = np.fromiter((s.stamp_s for s in self._samples), dtype=np.float64, count=len(self._samples))
        return self._samples[int(np.argmin(np.abs(stamps - stamp_s)))]


class PlausibilityFilter:
    """Accepts measured joint states the arm can physically be in (see the module docstring).

    Args:
        limits: position bounds and velocity limits of the joints, in state order.
        tolerance: how far a reading may lie outside a bound (sensor noise, contact, calibration),
            and the slack of the jump check [rad or m].
        confirmations: consecutive mutually consistent readings that make a jump accepted.
    """

    def __init__(self, limits: LimitArrays, tolerance: float, confirmations: int = 3) -> None:
        if not (math.isfinite(tolerance) and tolerance >= 0):
            raise ValueError(f"PlausibilityFilter tolerance={tolerance!r} must be a finite number >= 0")
        if confirmations < 1:
            raise ValueError(f"PlausibilityFilter confirmations={confirmations} must be >= 1")
        self.limits, self.tolerance, self.confirmations = limits, tolerance, confirmations
        self._accepted: tuple[float, JointSample] | None = None  # (arrival time, sample)
        self._pending: tuple[float, JointSample] | None = None
        self._pending_count = 0

    def check(self, sample: JointSample, received_s: float) -> str:
        """'' when ``sample`` is plausible (then it becomes the reference), else why not.

        ``received_s`` is the arrival time on the checker's clock: how far a joint may have moved
        is judged by the time between arrivals, never by the message's own stamps (a forged stamp
        far ahead must not widen the allowance).
        """
        names = self.limits.joint_names
        excess = bounds_excess(sample.positions, self.limits)
        if np.any(excess > self.tolerance):
            col = int(np.argmax(excess))
            return (f"joint {names[col]} measured {sample.positions[col]:.6g}, {excess[col]:.4g} outside "
                    f"[{self.limits.lower[col]:.6g}, {self.limits.upper[col]:.6g}] (sensor tolerance "
                    f"{self.tolerance:.4g})")
        current = (received_s, sample)
        if self._accepted is None or self._reachable(self._accepted, current):
            self._accept(current)
            return ""
        if self._pending is not None and self._reachable(self._pending, current):
            self._pending_count += 1
        else:
            self._pending_count = 1
        self._pending = current
        if self._pending_count >= self.confirmations:
            self._accept(current)
            return ""
        jump = np.abs(sample.positions - self._accepted[1].positions)
        col = int(np.argmax(jump / np.maximum(self.limits.velocity, 1e-12)))
        elapsed = received_s - self._accepted[0]
        return (f"joint {names[col]} measured a jump of {jump[col]:.4g} in {elapsed:.4g} s, faster than "
                f"it can move ({self.limits.velocity[col]:.4g}/s)")

    def _reachable(self, reference: tuple[float, JointSample], current: tuple[float, JointSample]) -> bool:
        elapsed = max(current[0] - reference[0], 0.0)
        with np.errstate(invalid="ignore"):
            allowed = JUMP_VELOCITY_FACTOR * self.limits.velocity * elapsed + self.tolerance
        jump = np.abs(current[1].positions - reference[1].positions)
        return bool(np.all((jump <= allowed) | np.isinf(self.limits.velocity)))

    def _accept(self, current: tuple[float, JointSample]) -> None:
        self._accepted, self._pending, self._pending_count = current, None, 0
