# SPDX-License-Identifier: Apache-2.0
"""Chunk timing and stitching: from a chunk anchored at its observation to one controller trajectory.

The rule is diffusion_policy's ``eval_real_robot``: step k of a chunk is meant for
``t_obs + k*dt``; steps that are already past when the chunk arrives (plus a latency margin for
the trip to the controller) are dropped; if none are left the chunk is over budget (a deadline
miss) and nothing is sent.

::

    observation   chunk arrives (now)   now + latency margin
        |                 |                    |
        v                 v                    v
  time -+-----+-----+-----+-----+-----+-----+--+--+-----+-----+----->
        k=0   k=1   k=2   k=3   k=4   k=5   k=6   k=7   k=8   ...    chunk steps at t_obs + k*dt
        |<------ dropped (past or too soon) ------->|<-- sent ------>
                          *                         o     o     o    trajectory points
                          ^ point 0: the seam = current commanded (or measured) state,
                            time_from_start = now - t_obs, so the controller starts from where the
                            arm is, without a jump; later points keep time_from_start = k*dt.

    header.stamp = t_obs  (the anchor; the controller executes each point at stamp + time_from_start;
                           an observation stamped slightly after now, clock skew, is re-anchored at now)

Seam (documented, tested): the current state is *prepended* as point 0 and the chunk's steps keep
their intended times. If the step from the running motion (its velocity) into the chunk would
exceed the acceleration limit, the arbiter eases the first few points from the previous motion
into the chunk (:func:`blend_seam`, as few as make the whole trajectory pass its checks); a chunk
whose own steps exceed the limits is rejected whole, never bent. HOLD and ESTOP are
:func:`controlled_stop` trajectories from the commanded state to rest.

Teleop trajectories use the same function with their own absolute step times
(:func:`stitch_steps`), so the controller sees one rule for every command.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cosmos_policy_ros.settings import check_settings, setting


class DeadlineMissError(ValueError):
    """No step of the chunk is still in the future: it arrived over budget."""


@dataclass(frozen=True)
class StitchConfig:
    """How chunks are anchored and trimmed.

    Args:
        latency_margin_s: steps due before ``now + latency_margin_s`` are dropped (the time for
            the trajectory to reach the controller and for the arm to start moving).
        max_stamp_ahead_s: anchors further than this in the future are rejected (clock skew or a
            corrupt stamp would otherwise park the arm on a far-away schedule).
        min_seam_s: chunks only: the first kept step is due at least this long after now. Two
            chunks sampled a few hundred ms apart disagree by a few hundredths of a radian where
            they meet; squeezed into the last few ms before a step, that gap reads as a velocity
            far past the limit and the chunk is rejected. One control period is enough room.
    """

    latency_margin_s: float = setting(0.05, "Chunk steps due sooner than this after arrival are dropped [s].",
                                      min_value=0.0, max_value=1.0)
    max_stamp_ahead_s: float = setting(0.5, "Reject chunks stamped further in the future [s].",
                                       min_value=0.0, max_value=10.0)
    min_seam_s: float = setting(0.1, "Policy chunks: the first kept step is due at least this long after now, so "
                                "where two chunks' plans meet is not squeezed into a few ms [s].",
                                min_value=0.0, max_value=1.0)

    def __post_init__(self) -> None:
        check_settings(self)


@dataclass(frozen=True)
class StitchedTrajectory:
    """One trajectory ready to become a JointTrajectory (plain arrays, no ROS).

    Args:
        stamp_s: header stamp [s, node clock] that ``times_from_start_s`` are relative to.
        positions: (n, D) joint positions; row 0 is the seam (current state).
        times_from_start_s: (n,) strictly increasing, row 0 at ``now - stamp_s``.
        first_step_index: index in the source chunk of row 1 (the first kept step).
    """

    stamp_s: float
    positions: np.ndarray
    times_from_start_s: np.ndarray
    first_step_index: int
    start_velocity: np.ndarray | None = None

    def point_velocities(self) -> np.ndarray:
        """(n, D) velocity of every point, for the controller's cubic interpolation.

        Row 0 carries the seam velocity (``start_velocity``, zero when unknown), interior points the
        mean of their two segments' velocities, and the last point zero: the arm comes to rest
        there, as ros2_control's joint_trajectory_controller requires by default
        (``allow_nonzero_velocity_at_trajectory_end: false``). With these tangents a cubic segment
        deviates from its straight-line velocity by at most a quarter of (acceleration limit x
        segment duration), the acceleration check bounding the difference between neighbours.
        """
        velocities = np.zeros_like(self.positions)
        if len(self.positions) < 2:
            return velocities
        segments = np.diff(self.positions, axis=0) / np.diff(self.times_from_start_s)[:, None]
        velocities[1:-1] = 0.5 * (segments[:-1] + segments[1:])
        if self.start_velocity is not None:
            velocities[0] = self.start_velocity
        return velocities

    @property
    def start_time_s(self) -> float:
        """Absolute time of row 0 (the seam)."""
        return self.stamp_s + float(self.times_from_start_s[0])

    @property
    def end_time_s(self) -> float:
        """Absolute time of the last point (after it the controller holds that point)."""
        return self.stamp_s + float(self.times_from_start_s[-1])

    def sample(self, time_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Commanded position and velocity at ``time_s``, as a controller interpolating linearly.

        Before the first point: the first point and zero velocity; after the last: the last
        point and zero velocity (the controller holds it).

        Returns:
            positions (D,), velocities (D,).
        """
        abs_times = self.stamp_s + self.times_from_start_s
        if time_s <= abs_times[0] or len(abs_times) == 1:
            return self.positions[0].copy(), np.zeros(self.positions.shape[1])
        if time_s >= abs_times[-1]:
            return self.positions[-1].copy(), np.zeros(self.positions.shape[1])
        seg = int(np.searchsorted(abs_times, time_s, side="right")) - 1
        span_s = abs_times[seg + 1] - abs_times[seg]
        velocity = (self.positions[seg + 1] - self.positions[seg]) / span_s
        return self.positions[seg] + velocity * (time_s - abs_times[seg]), velocity


def stitch_steps(step_positions: np.ndarray, step_times_s: np.ndarray, stamp_s: float, now_s: float,
                 seam_positions: np.ndarray, config: StitchConfig) -> StitchedTrajectory:
    """Drop past steps and prepend the current state (generic form of :func:`stitch_chunk`).

    Args:
        step_positions: (H, D) targets.
        step_times_s: (H,) times of the targets relative to ``stamp_s`` [s].
        stamp_s: the anchor (header stamp) [s].
        now_s: current time on the same clock [s].
        seam_positions: (D,) where the arm is commanded to be now.
        config: margins.

    Returns:
        The trajectory (seam + kept steps), stamped ``min(stamp_s, now_s)``.

    Raises:
        DeadlineMissError: no step is due after ``now_s + latency_margin_s``.
        ValueError: malformed shapes, non-finite times, or an anchor too far in the future.
    """
    positions = np.asarray(step_positions, dtype=np.float64)
    times = np.asarray(step_times_s, dtype=np.float64)
    seam = np.asarray(seam_positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[0] == 0 or times.shape != (positions.shape[0],):
        raise ValueError(f"steps shape {positions.shape} / times shape {times.shape} do not match (H, D) / (H,)")
    if seam.shape != (positions.shape[1],):
        raise ValueError(f"seam shape {seam.shape} does not match ({positions.shape[1]},)")
    if not (math.isfinite(stamp_s) and np.all(np.isfinite(times))):
        raise ValueError(f"non-finite stamp {stamp_s} or step times")
    if stamp_s - now_s > config.max_stamp_ahead_s:
        raise ValueError(f"stamp {stamp_s - now_s:.3f} s in the future exceeds max_stamp_ahead_s="
                         f"{config.max_stamp_ahead_s}")
    # A stamp slightly ahead of now (clock skew) is re-anchored at now, so that no
    # time_from_start is negative; the absolute schedule is unchanged.
    anchor_s = min(stamp_s, now_s)
    times = times + (stamp_s - anchor_s)
    seam_tfs_s = now_s - anchor_s
    keep = times > seam_tfs_s + config.latency_margin_s
    if not np.any(keep):
        late_s = seam_tfs_s - float(times[-1])
        raise DeadlineMissError(f"over budget: last step was due {late_s:.3f} s before now "
                                f"(latency margin {config.latency_margin_s} s)")
    first = int(np.argmax(keep))
    # Keep the suffix from the first future step: steps are executed in order, never re-ordered.
    return StitchedTrajectory(
        stamp_s=anchor_s,
        positions=np.vstack([seam[None, :], positions[first:]]),
        times_from_start_s=np.concatenate([[seam_tfs_s], times[first:]]),
        first_step_index=first,
    )


def controlled_stop(position: np.ndarray, velocity: np.ndarray, stamp_s: float, acceleration: np.ndarray,
                    step_s: float, rest_s: float) -> StitchedTrajectory:
    """From ``position`` moving at ``velocity`` to rest, decelerating no joint faster than its
    ``acceleration`` limit (inf = at once); every joint stops at the same step.

    Segment k (of n) moves at ``velocity * (n - k - 1/2) / n``: each segment differs from the
    previous one (and the first from ``velocity``, the last from rest) by ``velocity / n``, within
    ``acceleration * step_s`` when ``n >= max |velocity| / (acceleration * step_s)``, so the stop
    passes :func:`~.limits.check_trajectory` with ``start_velocity=velocity``. A last point holds
    the rest position ``rest_s`` after the deceleration ends: a controller rejects a trajectory
    whose points are all in the past on arrival (JTC, the sim's follower), and a stop must never be
    dropped for arriving a few steps late. At rest: ``position`` now and again ``rest_s`` later.

    Returns:
        The stop, stamped ``stamp_s`` (row 0 at time_from_start 0), its last point at rest.
    """
    position = np.asarray(position, dtype=np.float64)
    velocity = np.asarray(velocity, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(np.isinf(acceleration), 0.0, np.abs(velocity) / (acceleration * step_s))
    num = int(math.ceil(float(np.max(ratio, initial=0.0)) - 1e-9))
    if num == 0 or not np.any(velocity):
        # only joints without an acceleration limit move: they stop at once
        return StitchedTrajectory(stamp_s, np.vstack([position, position]), np.array([0.0, rest_s]), 0,
                                  start_velocity=velocity)
    fractions = (num - np.arange(num) - 0.5) / num  # (n,)
    segment_velocity = fractions[:, None] * velocity[None, :]  # (n, D)
    positions = position + np.cumsum(segment_velocity * step_s, axis=0)
    times = np.append(np.arange(num + 1) * step_s, num * step_s + rest_s)
    return StitchedTrajectory(stamp_s, np.vstack([position, positions, positions[-1]]), times, 0,
                              start_velocity=velocity)


def blend_seam(trajectory: StitchedTrajectory, previous: Callable[[float], np.ndarray],
               blend_points: int) -> StitchedTrajectory:
    """Ease the first ``blend_points`` points after the seam from the previous motion into the new one.

    Point i (1..blend_points) becomes ``(1 - w_i) * previous(t_i) + w_i * new_i`` with ``w_i`` the
    smoothstep of ``i / (blend_points + 1)``; later points are unchanged. ``previous`` gives the
    position of the motion at the seam at absolute time t (continued at its velocity), so the arm
    joins the new plan gradually instead of at the seam's velocity step.
    """
    if blend_points <= 0:
        return trajectory
    count = min(blend_points, len(trajectory.positions) - 1)
    positions = trajectory.positions.copy()
    ramp = np.arange(1, count + 1) / (blend_points + 1)
    weights = ramp * ramp * (3.0 - 2.0 * ramp)
    for i, w in zip(range(1, count + 1), weights):
        old = previous(trajectory.stamp_s + float(trajectory.times_from_start_s[i]))
        positions[i] = (1.0 - w) * old + w * positions[i]
    return dataclasses.replace(trajectory, positions=positions)


def stitch_chunk(chunk_positions: np.ndarray, obs_stamp_s: float, dt_s: float, now_s: float,
                 seam_positions: np.ndarray, config: StitchConfig) -> StitchedTrajectory:
    """Anchor a chunk at its observation (step k due at ``obs_stamp_s + k*dt_s``) and stitch it.

    Args:
        chunk_positions: (H, D) joint targets, row k for ``obs_stamp_s + k*dt_s``.
        obs_stamp_s: observation time [s, node clock].
        dt_s: control period of the chunk [s], > 0.
        now_s, seam_positions, config: as in :func:`stitch_steps`.

    Returns:
        The stitched trajectory stamped ``obs_stamp_s``.

    Raises:
        DeadlineMissError: every step is past (over budget).
        ValueError: bad ``dt_s`` or shapes.
    """
    if not (math.isfinite(dt_s) and dt_s > 0):
        raise ValueError(f"chunk dt_s={dt_s!r} must be a finite number > 0")
    positions = np.asarray(chunk_positions, dtype=np.float64)
    steps = np.arange(positions.shape[0] if positions.ndim else 0, dtype=np.float64)
    margin_s = max(config.latency_margin_s, config.min_seam_s)
    return stitch_steps(positions, steps * dt_s, obs_stamp_s, now_s, seam_positions,
                        dataclasses.replace(config, latency_margin_s=margin_s))
