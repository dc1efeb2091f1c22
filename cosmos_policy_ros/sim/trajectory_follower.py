# SPDX-License-Identifier: Apache-2.0
"""Follow joint trajectories the way ros2_control's joint_trajectory_controller (JTC) does.

ROS-free: the sim node converts ``trajectory_msgs/JointTrajectory`` into a
:class:`TrajectoryCommand`; everything here works in seconds of one clock (the sim's time).

Rules (JTC Humble/Jazzy topic interface, ``doc/userdoc.rst`` and ``doc/trajectory.rst``):

* A new accepted command replaces the current trajectory (no queueing, no blending).
* ``start_time_s=None`` (header stamp 0) starts the trajectory at receipt; otherwise point k is due
  at ``start_time_s + time_from_start[k]``.
* The trajectory starts from the reference the follower outputs at receipt (so a replacement never
  jumps), and interpolates from there to the first point that is still in the future. Points
  already in the past are discarded; a command whose points are all in the past is rejected.
* Interpolation (JTC's ``splines``, restricted to what we need): linear in position when the
  command carries no velocities, cubic Hermite when every point carries velocities
  (accelerations are not used: no quintic segments).
* After the last point the follower holds it. A command with no points means "hold here now".
* Rejected (with a reason; the current trajectory continues unchanged): unknown or duplicate joint
  names, a partial joint set when partial goals are disabled, a point whose positions/velocities
  do not match the joint count, non-finite values, times that do not increase.
* Joints missing from a (partial) command hold their reference at receipt.

Timing, one command with stamp ``t0`` received at ``t_rx`` (``o`` = knot)::

    reference at t_rx                     p0            p1        p2 (held afterwards)
        o-------------------------------- o ----------- o ------- o==========>
      t_rx                           t0 + tfs0     t0 + tfs1  t0 + tfs2
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cosmos_policy_ros.settings import setting


@dataclass(frozen=True)
class TrajectoryCommand:
    """A joint trajectory, ROS-free (one ``JointTrajectory`` message).

    Args:
        joint_names: joints the points refer to (a subset of the follower's joints is allowed
            when partial goals are enabled).
        times_from_start_s: (N,) time of each point after ``start_time_s`` [s].
        positions: (N, J) joint positions [rad or m], J = len(joint_names).
        velocities: (N, J) joint velocities, or None (then segments are linear).
        start_time_s: absolute start time on the follower's clock [s]; None = start at receipt.
    """

    joint_names: tuple[str, ...]
    times_from_start_s: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray | None = None
    start_time_s: float | None = None


@dataclass(frozen=True)
class CommandResult:
    """Outcome of :meth:`TrajectoryFollower.command`: accepted or not, and why."""

    accepted: bool
    reason: str = ""


@dataclass(frozen=True)
class FollowerConfig:
    """Follower options.

    Args:
        allow_partial_joints_goal: accept commands naming only some joints (JTC parameter of the
            same name; the others hold).
    """

    allow_partial_joints_goal: bool = setting(True, "Accept trajectories naming only some joints (as "
                                              "joint_trajectory_controller's parameter).")


@dataclass(frozen=True)
class ReferenceSample:
    """The reference at one instant: (J,) positions and (J,) velocities in the follower's order."""

    positions: np.ndarray
    velocities: np.ndarray


@dataclass
class _Knots:
    """Absolute-time knots of the active trajectory (K >= 1), full joint order."""

    times_s: np.ndarray  # (K,)
    positions: np.ndarray  # (K, J)
    velocities: np.ndarray | None = field(default=None)  # (K, J) or None: linear segments


class TrajectoryFollower:
    """Samples a position reference from the last accepted joint trajectory.

    Args:
        joint_names: the controlled joints, in the order of every returned vector.
        initial_positions: (J,) reference to hold until the first command.
        config: follower options.
    """

    def __init__(self, joint_names: tuple[str, ...] | list[str], initial_positions: np.ndarray,
                 config: FollowerConfig = FollowerConfig()) -> None:
        self.joint_names = tuple(joint_names)
        if len(set(self.joint_names)) != len(self.joint_names) or not self.joint_names:
            raise ValueError(f"TrajectoryFollower joint_names={self.joint_names!r} must be non-empty "
                             "and unique")
        self._index = {name: i for i, name in enumerate(self.joint_names)}
        self.config = config
        self._knots = _Knots(np.zeros(1), np.zeros((1, len(self.joint_names))))
        self.reset(initial_positions)

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def end_time_s(self) -> float:
        """Time of the last knot; after it the follower holds."""
        return float(self._knots.times_s[-1])

    def reset(self, positions: np.ndarray) -> None:
        """Drop any trajectory and hold ``positions`` (J,)."""
        positions = np.asarray(positions, dtype=np.float64).reshape(-1)
        if positions.shape != (self.num_joints,) or not np.all(np.isfinite(positions)):
            raise ValueError(f"reset positions {positions!r} must be {self.num_joints} finite values")
        self._knots = _Knots(times_s=np.array([-math.inf]), positions=positions[None].copy())

    def command(self, cmd: TrajectoryCommand, now_s: float) -> CommandResult:
        """Validate ``cmd`` received at ``now_s`` and, if valid, make it the active trajectory.

        Returns:
            The result; when rejected, ``reason`` says why and the current trajectory goes on.
        """
        reason = self._invalid_reason(cmd)
        if reason:
            return CommandResult(False, reason)
        current = self.sample(now_s)
        if len(cmd.times_from_start_s) == 0:
            self._knots = _Knots(np.array([now_s]), current.positions[None].copy())
            return CommandResult(True, "empty trajectory: holding the current reference")
        start_s = now_s if cmd.start_time_s is None else float(cmd.start_time_s)
        times_s = start_s + np.asarray(cmd.times_from_start_s, dtype=np.float64)
        future = times_s > now_s
        if not np.any(future):
            return CommandResult(False, f"all {len(times_s)} points are in the past "
                                        f"(last due {times_s[-1]:.3f} s, now {now_s:.3f} s)")
        self._knots = self._build_knots(cmd, times_s, future, now_s, current)
        skipped = int(np.count_nonzero(~future))
        return CommandResult(True, f"skipped {skipped} past point(s)" if skipped else "")

    def sample(self, now_s: float) -> ReferenceSample:
        """The reference at ``now_s`` (held constant before the first and after the last knot)."""
        knots = self._knots
        num = len(knots.times_s)
        if now_s >= knots.times_s[-1] or num == 1:
            return ReferenceSample(knots.positions[-1].copy(), np.zeros(self.num_joints))
        if now_s < knots.times_s[0]:  # at the first knot itself: its velocity (continuous across commands)
            return ReferenceSample(knots.positions[0].copy(), np.zeros(self.num_joints))
        k = int(np.searchsorted(knots.times_s, now_s, side="right")) - 1
        t0, t1 = knots.times_s[k], knots.times_s[k + 1]
        duration_s = t1 - t0
        s = (now_s - t0) / duration_s
        p0, p1 = knots.positions[k], knots.positions[k + 1]
        if knots.velocities is None:
            return ReferenceSample(p0 + s * (p1 - p0), (p1 - p0) / duration_s)
        return _hermite(p0, p1, knots.velocities[k] * duration_s, knots.velocities[k + 1] * duration_s,
                        s, duration_s)

    def _build_knots(self, cmd: TrajectoryCommand, times_s: np.ndarray, future: np.ndarray,
                     now_s: float, current: ReferenceSample) -> _Knots:
        """Knots in the follower's joint order: the reference now, then the future points."""
        columns = [self._index[name] for name in cmd.joint_names]
        num_future = int(np.count_nonzero(future))
        positions = np.repeat(current.positions[None], num_future + 1, axis=0)  # (K, J)
        positions[1:, columns] = np.asarray(cmd.positions, dtype=np.float64)[future]
        velocities = None
        if cmd.velocities is not None:
            velocities = np.zeros_like(positions)
            velocities[0] = current.velocities
            velocities[1:, columns] = np.asarray(cmd.velocities, dtype=np.float64)[future]
        return _Knots(np.concatenate([[now_s], times_s[future]]), positions, velocities)

    def _invalid_reason(self, cmd: TrajectoryCommand) -> str:
        """Why ``cmd`` must be rejected, or '' when it is valid."""
        names = tuple(cmd.joint_names)
        unknown = [n for n in names if n not in self._index]
        if unknown:
            return f"unknown joint(s) {unknown}; expected a subset of {list(self.joint_names)}"
        if len(set(names)) != len(names):
            return f"duplicate joint names in {list(names)}"
        if not self.config.allow_partial_joints_goal and set(names) != set(self.joint_names):
            return f"partial joint set {list(names)} while allow_partial_joints_goal is false"
        times = np.asarray(cmd.times_from_start_s, dtype=np.float64).reshape(-1)
        if len(times) == 0:
            return ""
        return (_shape_reason("positions", cmd.positions, len(times), len(names))
                or (_shape_reason("velocities", cmd.velocities, len(times), len(names))
                    if cmd.velocities is not None else "")
                or _time_reason(times, cmd.start_time_s))


def _shape_reason(what: str, values: np.ndarray, num_points: int, num_joints: int) -> str:
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (num_points, num_joints):
        return f"{what} have shape {values.shape}; expected ({num_points} points, {num_joints} joints)"
    if not np.all(np.isfinite(values)):
        bad_point = int(np.argwhere(~np.isfinite(values))[0][0])
        return f"non-finite {what} in point {bad_point}"
    return ""


def _time_reason(times_s: np.ndarray, start_time_s: float | None) -> str:
    if start_time_s is not None and not math.isfinite(start_time_s):
        return f"non-finite start time {start_time_s!r}"
    if not np.all(np.isfinite(times_s)) or np.any(times_s < 0.0):
        return f"time_from_start values {times_s.tolist()} must be finite and >= 0"
    if np.any(np.diff(times_s) <= 0.0):
        return f"time_from_start values {times_s.tolist()} must strictly increase"
    return ""


def _hermite(p0: np.ndarray, p1: np.ndarray, m0: np.ndarray, m1: np.ndarray, s: float,
             duration_s: float) -> ReferenceSample:
    """Cubic Hermite segment at normalized time ``s`` in [0, 1]; tangents m = velocity * duration."""
    s2, s3 = s * s, s * s * s
    positions = ((2 * s3 - 3 * s2 + 1) * p0 + (s3 - 2 * s2 + s) * m0
                 + (-2 * s3 + 3 * s2) * p1 + (s3 - s2) * m1)
    velocities = ((6 * s2 - 6 * s) * p0 + (3 * s2 - 4 * s + 1) * m0
                  + (-6 * s2 + 6 * s) * p1 + (3 * s2 - 2 * s) * m1) / duration_s
    return ReferenceSample(positions, velocities)
