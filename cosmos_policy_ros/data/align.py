# SPDX-License-Identifier: Apache-2.0
"""Time alignment of recorded streams on the control clock.

Control ticks are ``t_k = t_0 + k * dt`` (dt = 1 / control_rate_hz) from the first instant all
required streams have data to the end of the episode. Every stream is sampled *nearest-before*:
the newest message stamped at or before the tick, accepted only when it is at most
``max_skew_s`` old; a tick with any stream missing or stale is dropped and counted.

Actions are the commanded joint *reference* at each tick: the position the controller tracks at
that instant, computed from the recorded controller-topic trajectories the way
joint_trajectory_controller (and ``sim/trajectory_follower.py``) computes it: a JointTrajectory
replaces the previous one when it is received; its points are scheduled at ``start +
time_from_start`` with ``start = header.stamp``, or the receive time when the stamp is zero
("start now"); points already past at receipt are discarded (a trajectory with none left is
rejected, the previous one continues); the reference moves linearly from its value at receipt to
the first point, then from point to point, and holds the last point (linear, as JTC does for
position-only points, which is what the arbiter sends; velocities in a recorded command are ignored).

Why the reference and not the waypoint ahead: a teleop device may schedule each target some lead
ahead (the scripted expert: 0.4 s), a policy's chunk schedules step k at ``t_obs + k*dt``. Taken
at the tick, actions mean the same thing whoever commanded them, and a chunk replayed with step
k at ``t + k*dt`` reproduces the motion that was recorded.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosmos_policy_ros.stamps import NANOSECONDS_PER_SECOND as NS_PER_S


@dataclass(frozen=True)
class CommandedTrajectories:
    """All trajectories of an episode on one clock, as flat arrays.

    Args:
        receive_ns: (M,) receive time of each trajectory, ascending.
        point_offsets: (M + 1,) trajectory m owns points ``point_offsets[m]:point_offsets[m+1]``.
        point_time_ns: (Q,) scheduled absolute time of each point.
        positions: (Q, D) joint targets of each point, in preset joint order.
    """

    receive_ns: np.ndarray
    point_offsets: np.ndarray
    point_time_ns: np.ndarray
    positions: np.ndarray

    def __post_init__(self) -> None:
        if len(self.point_offsets) != len(self.receive_ns) + 1:
            raise ValueError(f"point_offsets has {len(self.point_offsets)} entries, expected "
                             f"{len(self.receive_ns) + 1}")
        if np.any(np.diff(self.point_offsets) < 1):
            raise ValueError("every trajectory needs at least one point")
        if np.any(np.diff(self.receive_ns) < 0):
            raise ValueError("receive_ns must be ascending")


def nearest_before(stamps_ns: np.ndarray, ticks_ns: np.ndarray,
                   max_skew_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Index of the newest stamp <= each tick, and whether it is within ``max_skew_ns``.

    Args:
        stamps_ns: (N,) ascending message stamps.
        ticks_ns: (K,) control ticks.
        max_skew_ns: largest accepted age of a sample at its tick.

    Returns:
        indices (K,) int64 (clipped to 0 where none exists) and valid (K,) bool.
    """
    indices = np.searchsorted(stamps_ns, ticks_ns, side="right") - 1
    valid = indices >= 0
    indices = np.maximum(indices, 0)
    if len(stamps_ns) == 0:
        return indices, np.zeros(len(ticks_ns), dtype=bool)
    valid &= (ticks_ns - stamps_ns[indices]) <= max_skew_ns
    return indices, valid


def control_ticks(start_ns: int, end_ns: int, rate_hz: float) -> np.ndarray:
    """Ticks start, start + dt, ... <= end (ns, int64)."""
    if end_ns < start_ns:
        return np.zeros(0, dtype=np.int64)
    dt_ns = NS_PER_S / rate_hz
    count = int(np.floor((end_ns - start_ns) / dt_ns)) + 1
    return start_ns + np.round(np.arange(count) * dt_ns).astype(np.int64)


def commanded_reference(commands: CommandedTrajectories, ticks_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Commanded reference at each tick (see the module docstring for the exact rule).

    Returns:
        positions (K, D) float32 and valid (K,) bool (False before the first accepted trajectory).
    """
    width = commands.positions.shape[1] if commands.positions.ndim == 2 else 0
    out = np.zeros((len(ticks_ns), width), dtype=np.float64)
    valid = np.zeros(len(ticks_ns), dtype=bool)
    ticks = np.asarray(ticks_ns, dtype=np.int64)
    accepted = [m for m, receive_ns in enumerate(commands.receive_ns)
                if np.any(commands.point_time_ns[commands.point_offsets[m]:commands.point_offsets[m + 1]] > receive_ns)]
    knots: tuple[np.ndarray, np.ndarray] | None = None  # (times, positions) of the active trajectory
    for n, m in enumerate(accepted):  # a trajectory with every point past is rejected: the last one goes on
        receive_ns = commands.receive_ns[m]
        times = commands.point_time_ns[commands.point_offsets[m]:commands.point_offsets[m + 1]]
        positions = commands.positions[commands.point_offsets[m]:commands.point_offsets[m + 1]][times > receive_ns]
        times = times[times > receive_ns]
        if knots is not None:  # start from the reference at receipt, as the controller does
            times = np.concatenate([[receive_ns], times])
            positions = np.vstack([_reference(knots, np.array([receive_ns]))[0], positions])
        knots = (times, positions)
        active = ticks >= receive_ns
        if n + 1 < len(accepted):
            active &= ticks < commands.receive_ns[accepted[n + 1]]
        out[active] = _reference(knots, ticks[active])
        valid |= active
    return out.astype(np.float32), valid


def _reference(knots: tuple[np.ndarray, np.ndarray], ticks_ns: np.ndarray) -> np.ndarray:
    """(K, D) piecewise-linear reference through the knots, held before the first and after the last."""
    times, positions = knots
    return np.stack([np.interp(ticks_ns, times, positions[:, j]) for j in range(positions.shape[1])], axis=1)


@dataclass(frozen=True)
class AlignmentReport:
    """Per-episode alignment outcome: ticks kept, ticks dropped per stream, largest gaps."""

    num_ticks: int
    num_kept: int
    dropped_by_stream: dict[str, int]
    max_gap_s_by_stream: dict[str, float]


def max_gap_s(stamps_ns: np.ndarray) -> float:
    """Largest interval between consecutive messages [s] (0 for fewer than two)."""
    return float(np.max(np.diff(stamps_ns)) / NS_PER_S) if len(stamps_ns) > 1 else 0.0
