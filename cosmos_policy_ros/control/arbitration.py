# SPDX-License-Identifier: Apache-2.0
"""The command arbiter's logic, without ROS: inputs in, trajectories for the controller out.

``ros/command_arbiter.py`` only converts messages to the plain values taken here and publishes the
:class:`Command` objects returned. Everything that decides what reaches the arm lives here and is
unit-tested: modes (:mod:`.modes`), action spaces (:mod:`.action_spaces`), stitching
(:mod:`.stitching`), limits (:mod:`.limits`), watchdog and value gate (:mod:`.watchdog`).

Per mode:

* POLICY: each chunk -> action space -> slivers past a position bound saturated -> stitched onto
  the commanded state (the measured state for the first chunk after entering POLICY: bumpless)
  -> checked whole -> one trajectory. A
  rejected chunk (malformed, NaN, out of limits, too far from the arm) -> HOLD mode with the
  reason: an explicit fault, only an operator's SetMode leaves it. An all-past chunk -> deadline
  miss (counted, the current trajectory keeps running, the watchdog catches a stream of them).
* Call for teleop: a chunk the policy flags ``call_for_teleop`` (its own run-time value
  threshold) or whose value is below ``value_threshold`` -> nothing of it passes, HOLD mode with
  ``modes.call_for_teleop`` raised and the reason; the operator's next SetMode clears it.
* Starvation (the watchdog): no valid chunk by ``t_obs + execute_steps*dt + watchdog_margin_s``
  of the last accepted chunk -> a controlled stop (below), a deadline miss,
  ``starved`` True and "starved" in the reason, but the mode stays POLICY: a late policy is not a
  fault, and the next valid chunk resumes it, joined onto the stop (or, once the stop has ended,
  onto the measured state where the arm came to rest) and checked whole like any chunk. A dead policy leaves the arm
  holding; a slow one loses time, not the operator's attention.
* TELEOP: teleop trajectories / joint targets -> same stitching and checks; rejected ones are
  dropped (the operator keeps control), counted in ``rejected_teleop``.
* HOLD / ESTOP: on entry, a controlled stop (:func:`.stitching.controlled_stop`): from the
  commanded state (position and velocity, while a command is running; else the last plausible
  measured position, at rest) to rest within the velocity and acceleration limits, checked like
  any command; nothing passes afterwards (in ESTOP nothing moves the arm until reset).
* Leaving POLICY cancels the rest of the policy's trajectory with that same stop.

Inputs are validated field by field before use (:mod:`.input_validation`; joint states by
:class:`.state_buffer.PlausibilityFilter`): a failing chunk is rejected whole (HOLD), a failing
teleop command is dropped, a failing joint state is ignored; each is counted in
``rejected_inputs`` and its reason goes to the status. A measured joint slightly outside its
bounds (within ``measured_tolerance``: contact, calibration) is reported by joint and amount and
does not lock the arm: a command that starts there and moves back inside is accepted.

Seam: a new command starts at the commanded (or, bumpless, measured) state and must join it
within the acceleration limit. Its own steps are checked first (a chunk whose steps exceed the
limits is rejected whole); then its first steps are eased from the previous motion into the new
plan (:func:`.stitching.blend_seam`) over as few steps as make the whole trajectory pass.
* Shadow mode: chunks are stitched onto the measured state, checked, and returned with
  ``shadow=True`` (for ``~/shadow_trajectory``) whatever the mode; they never reach the arm and
  POLICY cannot be entered.

Gripper: gripper joints are ordinary columns of the joint vector (last in the preset), so one
JointTrajectory carries arm and gripper. To drive a separate gripper controller, split the
trajectory by joint name downstream (or remap to a controller that owns all joints); gripper
columns are usually position-checked only (``LimitArrays.without_rate_limits``, node parameter
``limits.check_gripper_rates``) because a gripper controller saturates its own speed.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cosmos_policy_ros.presets import RobotPreset
from cosmos_policy_ros.settings import check_settings, same_as, setting

from cosmos_policy_ros.control.action_spaces import ActionSpaceConverter, converter_for_robot
from cosmos_policy_ros.control.kinematics import IkConfig
from cosmos_policy_ros.control.input_validation import (InputError, check_chunk_dt, check_chunk_step_times,
                                                        check_finite, check_name_lists, check_optional_vector,
                                                        check_stamp, check_trajectory_times)
from cosmos_policy_ros.control.limits import (LimitArrays, LimitSettings, bounds_excess, check_trajectory,
                                              saturate_positions)
from cosmos_policy_ros.control.modes import Mode, ModeMachine, RequestResult
from cosmos_policy_ros.control.state_buffer import JointSample, JointStateBuffer, PlausibilityFilter
from cosmos_policy_ros.control.stitching import (DeadlineMissError, StitchConfig, StitchedTrajectory, blend_seam,
                                                 controlled_stop, stitch_chunk, stitch_steps)
from cosmos_policy_ros.control.watchdog import CommandWatchdog, ValueGate


# A measured joint further outside its bounds than this is reported (below: the numerical noise of a
# joint resting on its stop, e.g. the sim's open gripper at 0.04 + 1e-6 m).
OUTSIDE_REPORT_THRESHOLD = 1e-4


@dataclass(frozen=True)
class ArbiterConfig:
    """Settings of the arbiter logic (the node fills it from its parameter table).

    Args:
        limits: limits of the preset joints, in preset order (defines D and the joint order).
        stitch: chunk anchoring margins.
        watchdog_margin_s: grace after the last accepted chunk's execution horizon
            (``t_obs + execute_steps*dt``) before the starvation hold.
        value_threshold: predicted value below which the arbiter HOLDs and calls for teleop.
        max_start_jump: largest per-joint distance from the current state to a trajectory's first
            commanded step (the preset's ``max_joint_jump_rad``).
        position_saturation: commanded positions past a joint bound by at most this fraction of
            the joint's range are set to the bound (``limits.saturate_positions``); 0 = none.
        teleop_target_lead_s: a JointState teleop target is commanded to be reached this long
            after it arrives.
        hold_time_from_start_s: a stop's last point holds the rest position this long after its
            deceleration (late enough never to arrive at the controller in the past).
        stop_step_s: time between the points of a controlled stop.
        max_chunk_dt_s: largest accepted ActionChunk.dt_s.
        measured_tolerance: how far a measured joint may lie outside its bounds (sensor noise,
            contact, calibration) and still be a usable state; further out it is implausible.
        shadow_mode: policy chunks go to the shadow output only.
        start_mode: mode at start (ESTOP not allowed).
    """

    limits: LimitArrays
    stitch: StitchConfig = StitchConfig()
    watchdog_margin_s: float = setting(
        0.1, "Hold the arm (starved) this long after the last chunk's execution horizon (stamp + "
        "execute_steps*dt) with no new valid chunk [s].", min_value=0.001, max_value=10.0)
    value_threshold: float = same_as(ValueGate, "threshold")
    max_start_jump: float = 0.3
    position_saturation: float = setting(
        0.05, "Commanded positions past a joint bound by at most this fraction of the joint's range are set to "
        "the bound; further out, the chunk is rejected.", min_value=0.0, max_value=0.5)
    teleop_target_lead_s: float = setting(0.1, "A teleop JointState target is reached this long after it "
                                          "arrives [s].", min_value=0.001, max_value=5.0)
    hold_time_from_start_s: float = setting(
        0.5, "A stop's last point holds the rest position this long after the deceleration (late enough never "
        "to arrive in the past) [s].", min_value=0.001, max_value=5.0)
    stop_step_s: float = setting(0.02, "Time between the points of a controlled stop (HOLD/ESTOP from motion) [s].",
                                 min_value=0.001, max_value=1.0)
    max_chunk_dt_s: float = setting(1.0, "Largest ActionChunk.dt_s accepted [s].", min_value=0.001, max_value=10.0)
    measured_tolerance: float = setting(
        0.01, "How far a measured joint may lie outside its bounds (contact, calibration) and still be used; "
        "further out a reading is ignored as implausible [rad or m].", min_value=1e-6, max_value=1.0)
    shadow_mode: bool = setting(False, "Publish policy trajectories on ~/shadow_trajectory only, never to the "
                                "controller.")
    start_mode: Mode = setting(Mode.HOLD, "Mode at start.", choices=(Mode.TELEOP, Mode.POLICY, Mode.HOLD))

    def __post_init__(self) -> None:
        check_settings(self)
        if not (math.isfinite(self.max_start_jump) and self.max_start_jump > 0):
            raise ValueError(f"ArbiterConfig.max_start_jump={self.max_start_jump!r} must be a finite number > 0")
        if self.start_mode == Mode.ESTOP or (self.shadow_mode and self.start_mode == Mode.POLICY):
            raise ValueError(f"ArbiterConfig.start_mode={self.start_mode.name} is not allowed here "
                             f"(shadow_mode={self.shadow_mode})")

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.limits.joint_names


@dataclass(frozen=True)
class PolicyChunk:
    """An ActionChunk as plain values.

    Args:
        stamp_s: observation time [s].
        action_names: column names (ActionChunk.joint_names).
        actions: rows of the chunk (H rows of len(action_names) numbers; may be ragged: checked).
        dt_s: control period [s].
        value: predicted value (NaN when unknown).
        model_name: producer's model.
        execute_steps: steps the policy means to execute before its next chunk (the execution
            horizon; the rest is look-ahead); 0 = all of them.
        call_for_teleop: the policy itself asks for a human (its value is below the policy
            node's run-time threshold): the arbiter HOLDs and calls for teleop.
        trajectory_names: ActionChunk.trajectory.joint_names (must agree with action_names when
            both are given).
        step_times_s: the points' time_from_start [s] (must be k * dt_s); None when the producer
            is not a message (tests of the logic).
    """

    stamp_s: float
    action_names: tuple[str, ...]
    actions: Sequence[Sequence[float]]
    dt_s: float
    value: float = math.nan
    model_name: str = ""
    execute_steps: int = 0
    call_for_teleop: bool = False
    trajectory_names: tuple[str, ...] = ()
    step_times_s: Sequence[float] | None = None

    def horizon_end_s(self) -> float:
        """When the executed part ends: ``stamp + execute_steps*dt`` (the last step's time when 0)."""
        steps = self.execute_steps if 0 < self.execute_steps < len(self.actions) else len(self.actions) - 1
        return self.stamp_s + steps * self.dt_s

    def validated_names(self, max_dt_s: float) -> tuple[str, ...]:
        """Check every field that is not a joint value (see :mod:`.input_validation`); the column names.

        Raises:
            InputError: naming the field.
        """
        check_stamp("header.stamp", self.stamp_s)
        names = check_name_lists(self.action_names, self.trajectory_names)
        check_chunk_dt(self.dt_s, max_dt_s, len(self.actions))
        if self.step_times_s is not None:
            if len(self.step_times_s) != len(self.actions):
                raise InputError(f"{len(self.step_times_s)} time_from_start values for {len(self.actions)} points")
            check_chunk_step_times(self.step_times_s, self.dt_s)
        if not (isinstance(self.execute_steps, int) and self.execute_steps >= 0):
            raise InputError(f"execute_steps={self.execute_steps!r} must be an integer >= 0")
        if math.isinf(self.value):
            raise InputError(f"value={self.value} is infinite")
        return names


@dataclass(frozen=True)
class Command:
    """A trajectory to publish: to the controller, or to the shadow topic when ``shadow``."""

    trajectory: StitchedTrajectory
    joint_names: tuple[str, ...]
    shadow: bool = False


def to_matrix(names: Sequence[str], rows: Sequence[Sequence[float]], order: Sequence[str]) -> np.ndarray:
    """Rows keyed by ``names`` -> (n, len(order)) float matrix in ``order``.

    Raises:
        ValueError: duplicate/unknown/missing names, ragged or empty rows.
    """
    names = list(names)
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate joint names {names}")
    unknown = sorted(set(names) - set(order))
    missing = [j for j in order if j not in names]
    if unknown or missing:
        raise ValueError(f"joint names do not match: unknown {unknown}, missing {missing}")
    if len(rows) == 0:
        raise ValueError("no points")
    bad = [i for i, row in enumerate(rows) if len(row) != len(names)]
    if bad:
        raise ValueError(f"point {bad[0]} has {len(rows[bad[0]])} values for {len(names)} joints")
    try:
        matrix = check_finite("positions", rows)  # (n, len(names)), every value (later-dropped ones too)
    except InputError as err:
        bad = np.argwhere(~np.isfinite(np.asarray(rows, dtype=np.float64)))
        if not bad.size:
            raise
        step, col = bad[0]
        raise InputError(f"non-finite position {rows[step][col]} for joint {names[col]} at step {step}") from err
    return matrix[:, [names.index(j) for j in order]]


class Arbiter:
    """Owns mode, last command, watchdog and counters; every input returns the commands to send."""

    def __init__(self, config: ArbiterConfig, converter: ActionSpaceConverter) -> None:
        if converter.joint_names != config.joint_names:
            raise ValueError(f"converter joints {converter.joint_names} != limits joints {config.joint_names}")
        self.config = config
        self.converter = converter
        self.modes = ModeMachine(config.start_mode, reason="start")
        self.watchdog = CommandWatchdog(config.watchdog_margin_s)
        self.value_gate = ValueGate(config.value_threshold)
        self.states = JointStateBuffer()
        self.plausibility = PlausibilityFilter(config.limits, config.measured_tolerance)
        self.rejected_inputs = 0
        self.inputs_received = 0  # chunks and teleop commands, valid or not (status: "processed")
        self._outside_joint = ""  # the joint last reported as measured outside its bounds
        self.commanded: StitchedTrajectory | None = None
        self.reason = "start"
        self.deadline_misses = 0
        self.rejected_chunks = 0
        self.rejected_teleop = 0
        self.starved = False  # the watchdog held the arm in POLICY; the next valid chunk resumes
        self.last_value = math.nan
        self.model_name = ""
        self.status_version = 0  # bumped on every status change, so the node publishes on change

    @classmethod
    def from_settings(cls, preset: RobotPreset, urdf_xml: str, limits: LimitSettings = LimitSettings(),
                      ik: IkConfig = IkConfig(), **config: Any) -> "Arbiter":
        """The arbiter of a robot: the URDF's limits (tightened by ``limits``), the preset's action
        space (``ik`` for ee_delta) and largest start jump, and the other :class:`ArbiterConfig`
        fields from ``config`` (their defaults where not given).

        Raises:
            ValueError: a setting out of range, joints missing from the URDF, unknown fields.
        """
        settable = {f.name for f in dataclasses.fields(ArbiterConfig)} - {"limits", "max_start_jump"}
        unknown = sorted(set(config) - settable)
        if unknown:
            raise ValueError(f"Arbiter.from_settings: {unknown} are not ArbiterConfig settings "
                             f"(or come from the robot)")
        arrays = limits.limit_arrays(urdf_xml, preset.joints, preset.gripper_joints, preset.joint_units)
        converter = converter_for_robot(preset.action_space, preset.joints, preset.gripper_joints, urdf_xml, arrays, ik)
        return cls(ArbiterConfig(limits=arrays, max_start_jump=preset.max_joint_jump_rad, **config), converter)

    # -- inputs -------------------------------------------------------------------------------
    def on_joint_state(self, stamp_s: float, names: Sequence[str], positions: Sequence[float],
                       velocities: Sequence[float], now_s: float | None = None) -> None:
        """Store a measured state; malformed or implausible ones are reported and ignored.

        ``now_s`` is the arrival time (None: ``stamp_s``, for callers whose stamps are the clock);
        a state stamped further ahead of it than ``stitch.max_stamp_ahead_s`` is a clock fault.
        """
        received_s = stamp_s if now_s is None else now_s
        try:
            check_stamp("joint state header.stamp", stamp_s)
            if stamp_s - received_s > self.config.stitch.max_stamp_ahead_s:
                raise InputError(f"joint state stamped {stamp_s - received_s:.3f} s in the future")
            check_optional_vector("joint state velocity", velocities, len(names))
            q = to_matrix(names, [positions], self.config.joint_names)[0]
            v = to_matrix(names, [velocities], self.config.joint_names)[0] if len(velocities) else None
        except (ValueError, TypeError) as err:
            self.reject_input(f"joint state ignored: {err}")
            return
        sample = JointSample(stamp_s, q, v)
        implausible = self.plausibility.check(sample, received_s)
        if implausible:
            self.reject_input(f"joint state ignored as implausible: {implausible}")
            return
        self.states.add(sample)
        self._report_outside(q)

    def reject_input(self, reason: str) -> None:
        """An input that failed validation before reaching the logic (e.g. a message field): counted,
        reported in the status; the message's own handler decides what else happens."""
        self.rejected_inputs += 1
        if reason != self.reason:
            self._set_reason(reason)

    def _report_outside(self, positions: np.ndarray) -> None:
        """Say (once per joint) that a measured joint is outside its bounds, within the tolerance."""
        excess = bounds_excess(positions, self.config.limits)
        col = int(np.argmax(excess))
        joint = self.config.joint_names[col] if excess[col] > OUTSIDE_REPORT_THRESHOLD else ""
        if joint and joint != self._outside_joint:
            self._set_reason(f"joint {joint} measured {positions[col]:.6g}, {excess[col]:.4g} outside its "
                             f"bounds (within the sensor tolerance {self.config.measured_tolerance}); "
                             f"commands moving it back inside are accepted")
        self._outside_joint = joint

    def on_policy_chunk(self, chunk: PolicyChunk, now_s: float) -> list[Command]:
        """Turn a chunk into a controller (or shadow) trajectory, or reject it (see module doc)."""
        self._received()
        self.last_value, self.model_name = float(chunk.value), chunk.model_name
        shadow = self.config.shadow_mode
        if not shadow and self.modes.mode != Mode.POLICY:
            return []
        call_reason = self._call_for_teleop_reason(chunk)
        if not shadow and call_reason:
            return self._safety_hold(f"{call_reason}: calling for teleop", now_s, call_for_teleop=True)
        try:
            measured_seam = shadow or self.modes.needs_measured_start
            trajectory = self._chunk_trajectory(chunk, now_s, measured_seam)
        except DeadlineMissError as miss:
            self.deadline_misses += 1
            self._set_reason(f"chunk dropped: {miss}")
            return []
        except (ValueError, TypeError) as err:
            return self.reject_chunk(str(err), now_s)
        if shadow:
            return [Command(trajectory, self.config.joint_names, shadow=True)]
        self.modes.policy_started()
        if self.starved:
            self.starved = False
            self._set_reason("policy resumed after starvation")
        self.watchdog.arm(min(chunk.horizon_end_s(), trajectory.end_time_s))
        return [self._command(trajectory)]

    def on_teleop_trajectory(self, names: Sequence[str], rows: Sequence[Sequence[float]],
                             times_from_start_s: Sequence[float], stamp_s: float, now_s: float) -> list[Command]:
        """A teleop JointTrajectory (stamp 0 = now), passed through the same stitching and checks."""
        self._received()
        if self.modes.mode != Mode.TELEOP:
            return []
        try:
            check_stamp("header.stamp", stamp_s)
            positions = to_matrix(names, rows, self.config.joint_names)
            times = check_trajectory_times(times_from_start_s)
            if len(times) != len(positions):
                raise InputError(f"{len(times)} time_from_start values for {len(positions)} points")
            anchor_s = now_s if stamp_s == 0.0 else stamp_s
            return self._teleop(positions, times, anchor_s, now_s)
        except (ValueError, TypeError) as err:
            return self.reject_teleop(str(err))

    def on_teleop_targets(self, names: Sequence[str], positions: Sequence[float], now_s: float) -> list[Command]:
        """A teleop JointState target, to be reached ``teleop_target_lead_s`` from now."""
        self._received()
        if self.modes.mode != Mode.TELEOP:
            return []
        try:
            target = to_matrix(names, [positions], self.config.joint_names)
            return self._teleop(target, np.array([self.config.teleop_target_lead_s]), now_s, now_s)
        except (ValueError, TypeError) as err:
            return self.reject_teleop(str(err))

    def on_tick(self, now_s: float) -> list[Command]:
        """Periodic check: the watchdog holds the arm when the policy's execution horizon ran out."""
        if self.modes.mode != Mode.POLICY:
            self.watchdog.disarm()
            return []
        if self.watchdog.expired(now_s):
            end_s = self.watchdog.deadline_s - self.watchdog.margin_s
            return self._starvation_hold(f"watchdog: starved, no valid chunk within the execution horizon "
                                         f"({now_s - end_s:.3f} s past it); stopping and holding "
                                         f"until the next valid chunk", now_s)
        return []

    # -- mode requests ------------------------------------------------------------------------
    def request_mode(self, mode: Mode, reason: str, now_s: float) -> tuple[RequestResult, list[Command]]:
        """SetMode: returns the outcome and the commands the change needs (a HOLD on entry)."""
        if self.config.shadow_mode and mode == Mode.POLICY:
            return RequestResult(False, "shadow mode: policy chunks are never executed", self.modes.mode), []
        return self._transition(lambda: self.modes.request(mode, reason, now_s), now_s)

    def estop(self, reason: str, now_s: float) -> tuple[RequestResult, list[Command]]:
        return self._transition(lambda: self.modes.estop(reason, now_s), now_s)

    def reset(self, reason: str, now_s: float) -> tuple[RequestResult, list[Command]]:
        return self._transition(lambda: self.modes.reset(reason, now_s), now_s)

    def shutdown_hold(self, now_s: float) -> list[Command]:
        """The last command before the publisher goes away: hold at the measured position."""
        self._set_reason("shutdown")
        return self._hold_command(now_s)

    # -- internals ----------------------------------------------------------------------------
    def _transition(self, change, now_s: float) -> tuple[RequestResult, list[Command]]:
        before = self.modes.mode
        result = change()
        if result.mode == before:
            return result, []
        self._set_reason(self.modes.reason)
        self.starved = False
        self.watchdog.disarm()
        # Leaving ESTOP (reset, to HOLD) commands nothing: the arm is already at rest.
        stops_motion = (result.mode in (Mode.HOLD, Mode.ESTOP) or before == Mode.POLICY) and before != Mode.ESTOP
        return result, self._hold_command(now_s) if stops_motion else []

    def _call_for_teleop_reason(self, chunk: PolicyChunk) -> str:
        """Why the chunk asks for a human ("" when it does not): the policy's own flag, or a value
        below the arbiter's threshold."""
        if chunk.call_for_teleop:
            return f"policy calls for teleop (value {chunk.value:.3f} below its threshold)"
        if self.value_gate.calls_for_teleop(chunk.value):
            return f"value {chunk.value:.3f} below threshold {self.value_gate.threshold:.3f}"
        return ""

    def _chunk_trajectory(self, chunk: PolicyChunk, now_s: float, measured_seam: bool) -> StitchedTrajectory:
        names = chunk.validated_names(self.config.max_chunk_dt_s)
        actions = to_matrix(names, chunk.actions, self.converter.action_names)
        latest = self.states.latest
        if latest is None:
            raise ValueError("no joint state received yet")
        state_at_obs = self.states.nearest(chunk.stamp_s).positions
        positions = self.converter.to_joint_positions(actions, state_at_obs)
        positions = saturate_positions(positions, self.config.limits, self.config.position_saturation)
        seam = self._seam(now_s, measured_seam)
        trajectory = stitch_chunk(positions, chunk.stamp_s, chunk.dt_s, now_s, seam.positions, self.config.stitch)
        return self._joined(trajectory, seam)

    def _teleop(self, positions: np.ndarray, times_s: np.ndarray, anchor_s: float, now_s: float) -> list[Command]:
        positions = saturate_positions(positions, self.config.limits, self.config.position_saturation)
        seam = self._seam(now_s, measured=False)
        try:
            trajectory = stitch_steps(positions, times_s, anchor_s, now_s, seam.positions, self.config.stitch)
        except DeadlineMissError as miss:
            return self.reject_teleop(str(miss))
        return [self._command(self._joined(trajectory, seam))]

    def _seam(self, now_s: float, measured: bool) -> "_Seam":
        """Where the new trajectory starts: the commanded state while a command runs, else (or for a
        bumpless start) the last plausible measured state."""
        if not measured and self.commanded is not None and now_s <= self.commanded.end_time_s:
            position, velocity = self.commanded.sample(now_s)
            return _Seam(position, velocity, self._continued(position, velocity, now_s), measured=False)
        latest = self.states.latest
        if latest is None:
            raise ValueError("no joint state received yet")
        velocity = latest.velocities if latest.velocities is not None else np.zeros_like(latest.positions)
        return _Seam(latest.positions, velocity, self._continued(latest.positions, velocity, now_s), measured=True)

    def _continued(self, position: np.ndarray, velocity: np.ndarray, now_s: float) -> Callable[[float], np.ndarray]:
        """The motion at the seam continued at its velocity (inside the bounds): what a new command
        is blended from. Not the previous command's own path: that may bend or end right after the
        seam (an old chunk's last step), which no blend could then follow within the limits."""
        lower, upper = self.config.limits.lower, self.config.limits.upper
        return lambda t: np.clip(position + velocity * (t - now_s), lower, upper)

    def _joined(self, trajectory: StitchedTrajectory, seam: "_Seam") -> StitchedTrajectory:
        """The trajectory joined onto the seam within the limits (see the module docstring).

        Raises:
            ValueError: the command's own steps, or every blend of its seam, break a limit.
        """
        limits = self.config.limits
        own = check_trajectory(trajectory.positions[1:], trajectory.times_from_start_s[1:], limits)
        if own:
            raise ValueError(f"{own} (steps counted from the first kept step)")
        tolerance = self.config.measured_tolerance if seam.measured else 0.0
        trajectory = dataclasses.replace(trajectory, start_velocity=seam.velocity)
        reasons = []
        for blend_points in range(len(trajectory.positions) - 1):
            candidate = blend_seam(trajectory, seam.previous, blend_points)
            reason = check_trajectory(candidate.positions, candidate.times_from_start_s, limits,
                                      start_velocity=seam.velocity, max_start_jump=self.config.max_start_jump,
                                      start_bounds_tolerance=tolerance)
            if not reason:
                return candidate
            reasons.append(reason)
        blended = f"; blended over {len(reasons) - 1} steps: {reasons[-1]}" if len(reasons) > 1 else ""
        raise ValueError(f"{reasons[0]}{blended}")

    def _command(self, trajectory: StitchedTrajectory) -> Command:
        self.commanded = trajectory
        return Command(trajectory, self.config.joint_names)

    def reject_chunk_message(self, reason: str, now_s: float) -> list[Command]:
        """A chunk message that failed validation while it was read: as :meth:`reject_chunk` (outside
        POLICY, where no chunk would pass anyway, it is only reported)."""
        self._received()
        if not self.config.shadow_mode and self.modes.mode != Mode.POLICY:
            self.reject_input(f"chunk ignored in {self.modes.mode.name}, and malformed: {reason}")
            return []
        return self.reject_chunk(reason, now_s)

    def reject_chunk(self, reason: str, now_s: float) -> list[Command]:
        """A chunk that failed validation: rejected whole, HOLD (shadow mode: only reported)."""
        self.rejected_chunks += 1
        if self.config.shadow_mode:
            self._set_reason(f"shadow chunk rejected: {reason}")
            return []
        return self._safety_hold(f"chunk rejected: {reason}", now_s)

    def reject_teleop_message(self, reason: str) -> list[Command]:
        """A teleop message that failed validation while it was read: as :meth:`reject_teleop`
        in TELEOP; outside it, where no teleop command would pass anyway, it is only received."""
        self._received()
        return self.reject_teleop(reason) if self.modes.mode == Mode.TELEOP else []

    def reject_teleop(self, reason: str) -> list[Command]:
        """A teleop command that failed validation: dropped (the operator keeps control), counted."""
        self.rejected_teleop += 1
        self._set_reason(f"teleop command rejected: {reason}")
        return []

    def _starvation_hold(self, reason: str, now_s: float) -> list[Command]:
        """Hold at the measured position, stay in POLICY (see the module docstring)."""
        self.starved = True
        self.deadline_misses += 1
        self.watchdog.disarm()
        self._set_reason(reason)
        return self._hold_command(now_s)

    def _safety_hold(self, reason: str, now_s: float, call_for_teleop: bool = False) -> list[Command]:
        self.modes.hold(reason, now_s, call_for_teleop=call_for_teleop)
        self.starved = False
        self.watchdog.disarm()
        self._set_reason(reason)
        return self._hold_command(now_s)

    def _hold_command(self, now_s: float) -> list[Command]:
        """A controlled stop from the seam state to rest (see the module docstring); none before
        anything was measured or commanded.

        Once the last command has ended, the controller holds its last point and the arm settles
        there: the stop holds that point too (nothing changes), unless the arm is measured further
        from it than ``max_start_jump`` (something else moved it: a sim reset, another controller);
        then it holds where the arm is, clipped into the bounds (the reading lies within
        ``measured_tolerance`` of them).
        """
        try:
            seam = self._seam(now_s, measured=False)
        except ValueError:
            return []
        position, velocity = seam.positions, seam.velocity
        if seam.measured:  # no command is running: hold, at rest
            position, velocity = seam.previous(now_s), np.zeros_like(position)
            last = None if self.commanded is None else self.commanded.positions[-1]
            if last is not None and np.max(np.abs(last - seam.positions)) <= self.config.max_start_jump:
                position = last
        stop = controlled_stop(position, velocity, now_s, self.config.limits.acceleration,
                               self.config.stop_step_s, self.config.hold_time_from_start_s)
        return [self._command(stop)]

    def _received(self) -> None:
        self.inputs_received += 1
        self.status_version += 1  # the count is in the status: clients sync on it

    def _set_reason(self, reason: str) -> None:
        self.reason = reason
        self.status_version += 1


@dataclass(frozen=True)
class _Seam:
    """Where a new command starts: position and velocity now, the previous motion's position at
    any time (for blending), and whether it was measured (then it may lie slightly outside bounds)."""

    positions: np.ndarray
    velocity: np.ndarray
    previous: Callable[[float], np.ndarray]
    measured: bool
