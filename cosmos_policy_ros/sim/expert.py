# SPDX-License-Identifier: Apache-2.0
"""Scripted expert: solves reach, twin and pick_place from privileged object poses with IK.

ROS-free. The expert plays a teleoperator: every control step it moves a Cartesian set-point a
little towards the current waypoint (at ``speed_mps``), solves IK for it (warm-started from its
previous solution) and returns joint targets for all commanded joints (gripper last). Optional
perturbations make varied, sometimes failing demonstrations (needed to learn values): joint
noise, random detours, an offset ("wrong") grasp and stopping early. All randomness comes from
the seed given to :meth:`ScriptedExpert.reset`, so a seed fixes the whole trajectory.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosmos_policy_ros.control.limits import parse_joint_limits
from cosmos_policy_ros.sim.arm_sim import Pose
from cosmos_policy_ros.sim.kinematics import ArmKinematics, downward_pose, tool_yaw
from cosmos_policy_ros.sim.scene import COMMANDED_JOINTS
from cosmos_policy_ros.settings import setting
from cosmos_policy_ros.sim.tasks import TASKS

GRIPPER_OPEN_M = 0.04
GRIPPER_CLOSED_M = 0.0
QUARTER_TURN_RAD = np.pi / 2


@dataclass(frozen=True)
class ExpertConfig:
    """Expert behaviour and perturbations.

    Args:
        control_dt_s: period of :meth:`ScriptedExpert.act` calls.
        speed_mps: Cartesian speed of the tool set-point.
        yaw_rate_rad_s: rotation speed of the tool about the vertical.
        approach_height_m: height above a block (tool frame) before descending onto it.
        carry_height_m: tool height while carrying or travelling.
        touch_depth_m: how far below the block's top face the tool goes in ``reach``.
        release_height_m: height of the grasped block's centre above the bin's origin (its floor)
            when the block is released.
        waypoint_tolerance_m: the measured tool must be this close before the next waypoint.
        waypoint_timeout_s: move on anyway after this long at one waypoint.
        gripper_wait_s: time for the gripper to close or open.
        action_noise_rad: std of Gaussian noise added to the arm's joint targets.
        detour_probability: chance of an extra random waypoint on the way to the block.
        detour_radius_m: horizontal size of that detour.
        wrong_grasp_probability: chance of grasping (or touching) off the block's centre.
        wrong_grasp_offset_m: horizontal offset of that grasp.
        early_stop_probability: chance of freezing at a random waypoint.
        velocity_limit_fraction: targets move at most this fraction of the URDF velocity limits
            per second (so the command arbiter's limit check accepts them).
        acceleration_rad_s2: the arm's targets change speed by at most this much per second
            (below the command arbiter's default limit of 10 rad/s^2, so that its acceleration
            check accepts them, as a real arm's would); the gripper is rate-limited only.
        command_lead_s: a target is due this long after it is sent: more than the transport delay
            to the controller (the command arbiter drops points due within its latency margin).
        max_target_offset_rad: largest per-joint distance of a target from the MEASURED state (at
            most the preset's ``max_joint_jump_rad``, which the arbiter enforces). Targets are
            rate-limited from the previous target while the arm follows, and restart from the
            measured state when it does not (commands not executed: the arbiter was in HOLD or
            POLICY), so a teleop device never commands a jump.
    """

    control_dt_s: float = 0.1
    speed_mps: float = setting(0.3, "Cartesian tool speed [m/s].", min_value=0.01, max_value=1.0)
    yaw_rate_rad_s: float = setting(2.0, "Rotation speed of the tool about the vertical [rad/s].", min_value=0.01,
                                    max_value=10.0)
    approach_height_m: float = 0.1
    carry_height_m: float = 0.17
    touch_depth_m: float = 0.012
    release_height_m: float = 0.05
    waypoint_tolerance_m: float = 0.012
    waypoint_timeout_s: float = 3.0
    gripper_wait_s: float = 0.6
    action_noise_rad: float = setting(0.0, "Std of joint-target noise [rad].", min_value=0.0, max_value=0.5)
    detour_probability: float = setting(0.0, "Chance of a random detour per episode.", min_value=0.0, max_value=1.0)
    detour_radius_m: float = 0.1
    wrong_grasp_probability: float = setting(0.0, "Chance of an off-centre grasp per episode.", min_value=0.0,
                                             max_value=1.0)
    wrong_grasp_offset_m: float = 0.04
    early_stop_probability: float = setting(0.0, "Chance of stopping early per episode.", min_value=0.0,
                                            max_value=1.0)
    velocity_limit_fraction: float = 0.9
    acceleration_rad_s2: float = 5.0
    command_lead_s: float = setting(0.4, "A target is due this long after it is sent [s] (more than the transport "
                                    "delay to the controller).", min_value=0.01, max_value=5.0)
    max_target_offset_rad: float = 0.15

    def __post_init__(self) -> None:
        for name in ("control_dt_s", "speed_mps", "yaw_rate_rad_s", "waypoint_tolerance_m",
                     "waypoint_timeout_s", "command_lead_s", "max_target_offset_rad", "acceleration_rad_s2"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ExpertConfig.{name}={getattr(self, name)} must be > 0")
        if self.action_noise_rad < 0:
            raise ValueError(f"ExpertConfig.action_noise_rad={self.action_noise_rad} must be >= 0")
        for name in ("detour_probability", "wrong_grasp_probability", "early_stop_probability",
                     "velocity_limit_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"ExpertConfig.{name}={getattr(self, name)} must be in [0, 1]")


@dataclass(frozen=True)
class ExpertObservation:
    """What the expert sees: (7,) joint positions (gripper last) and privileged poses.

    ``bin_pose`` is only needed by ``pick_place``.
    """

    joint_positions: np.ndarray
    target_pose: Pose
    bin_pose: Pose | None = None


@dataclass(frozen=True)
class Waypoint:
    """Where the tool goes, with which gripper opening, and how long to stay once there."""

    position: np.ndarray
    gripper_m: float
    dwell_s: float = 0.0


class ScriptedExpert:
    """Waypoint follower with IK for one task.

    Args:
        task: a task of ``TASKS`` (its ``expert_plan``: touch the target, or pick and place it).
        kinematics: arm kinematics (IK).
        config: behaviour and perturbations.
    """

    def __init__(self, task: str, kinematics: ArmKinematics, config: ExpertConfig = ExpertConfig()) -> None:
        if task not in TASKS:
            raise ValueError(f"ScriptedExpert task={task!r} must be one of {sorted(TASKS)}")
        self.task, self.kinematics, self.config = task, kinematics, config
        limits = parse_joint_limits(kinematics.urdf_path.read_text(encoding="utf-8"))
        velocity_limits = np.array([limits[name].velocity for name in COMMANDED_JOINTS])  # (7,)
        self._max_step = velocity_limits * config.velocity_limit_fraction * config.control_dt_s
        self.reset(0)

    def reset(self, seed: int) -> None:
        """Start a new episode; ``seed`` fixes every random choice of the expert."""
        self._rng = np.random.default_rng(seed)
        self._waypoints: list[Waypoint] = []
        self._index = 0
        self._time_at_waypoint_s = 0.0
        self._dwell_s = 0.0
        self._set_point: np.ndarray | None = None
        self._yaw_rad = 0.0
        self._goal_yaw_rad = 0.0
        self._arm_solution: np.ndarray | None = None
        self._last_target: np.ndarray | None = None
        self._last_step = np.zeros(len(COMMANDED_JOINTS))
        self._clipped = False
        self._stop_index = -1

    @property
    def done(self) -> bool:
        """All waypoints reached (or stopped early): the expert holds."""
        finished = self._index >= len(self._waypoints) or self._index == self._stop_index
        return bool(self._waypoints) and finished

    def act(self, obs: ExpertObservation) -> np.ndarray:
        """(7,) joint targets for the next control step (arm rad, gripper m)."""
        if self._set_point is None:
            self._plan(obs)
        self._advance(obs)
        waypoint = self._waypoints[min(self._index, len(self._waypoints) - 1)]
        if not self.done:
            self._move_set_point(waypoint.position)
        target = downward_pose(self._set_point, self._yaw_rad)
        self._arm_solution = self.kinematics.solve(target, self._arm_solution).joint_positions
        arm = self._arm_solution + self._rng.normal(0.0, self.config.action_noise_rad, size=6) \
            if self.config.action_noise_rad > 0 else self._arm_solution.copy()
        wanted = np.concatenate([arm, [waypoint.gripper_m]])
        self._last_target = self._rate_limited(wanted, np.asarray(obs.joint_positions, dtype=np.float64))
        return self._last_target.copy()

    def _rate_limited(self, wanted: np.ndarray, measured: np.ndarray) -> np.ndarray:
        """(7,) next target: a velocity- and acceleration-limited step from the previous target,
        clipped to ``max_target_offset_rad`` around the measured state.

        Each arm joint's step speeds up or slows down by at most ``acceleration_rad_s2 * dt^2`` and
        is never faster than it can still stop from before ``wanted`` (``sqrt(2 a d)``), so it
        arrives at rest. A clipped target means the arm did not follow (its commands were not
        executed, e.g. the arbiter was not in TELEOP): the next target then restarts from the
        measured state at rest, so whenever the commands start passing again the first one is a
        small step from the arm.
        """
        offset, dt = self.config.max_target_offset_rad, self.config.control_dt_s
        restart = self._last_target is None or self._clipped
        previous = measured if restart else self._last_target
        last_step = np.zeros_like(self._last_step) if restart else self._last_step
        distance = wanted - previous
        dv = self.config.acceleration_rad_s2 * dt * dt  # largest change of a step
        # fastest step that can still stop by `wanted` (discrete: v_k decreasing by dv per step)
        stoppable = dv * (np.sqrt(0.25 + 2.0 * np.abs(distance) / dv) - 0.5)
        desired = np.sign(distance) * np.minimum(np.minimum(np.abs(distance), stoppable), self._max_step)
        step = np.clip(desired, last_step - dv, last_step + dv)
        step[-1] = np.clip(distance[-1], -self._max_step[-1], self._max_step[-1])  # the gripper
        target = previous + step
        self._clipped = bool(np.any(np.abs(target - measured) > offset))
        self._last_step = step
        return np.clip(target, measured - offset, measured + offset)

    def _plan(self, obs: ExpertObservation) -> None:
        """Waypoints for the task from the first observation, plus the chosen perturbations."""
        cfg = self.config
        start = self.kinematics.forward(obs.joint_positions)
        self._set_point, self._yaw_rad = start.position.copy(), tool_yaw(start)
        self._arm_solution = np.asarray(obs.joint_positions[:6], dtype=np.float64).copy()
        block = obs.target_pose.position.copy()
        self._goal_yaw_rad = grasp_yaw(obs.target_pose, natural_yaw=np.arctan2(block[1], block[0]) + np.pi,
                                       current_yaw=self._yaw_rad)
        if self._rng.random() < cfg.wrong_grasp_probability:
            angle = self._rng.uniform(0.0, 2 * np.pi)
            block[:2] += cfg.wrong_grasp_offset_m * np.array([np.cos(angle), np.sin(angle)])
        half = obs.target_pose.position[2]  # block centre height = half its size on the table
        above = block + [0.0, 0.0, cfg.approach_height_m]
        if TASKS[self.task].expert_plan == "reach":
            touch = block + [0.0, 0.0, half - cfg.touch_depth_m]
            plan = [Waypoint(above, GRIPPER_CLOSED_M), Waypoint(touch, GRIPPER_CLOSED_M, cfg.gripper_wait_s)]
        else:
            plan = self._pick_place_plan(block, above, obs.bin_pose)
        if self._rng.random() < cfg.detour_probability:
            offset = self._rng.uniform(-cfg.detour_radius_m, cfg.detour_radius_m, size=2)
            detour = above + [offset[0], offset[1], cfg.approach_height_m / 2]
            plan.insert(0, Waypoint(detour, plan[0].gripper_m))
        if self._rng.random() < cfg.early_stop_probability:
            self._stop_index = int(self._rng.integers(1, len(plan)))
        self._waypoints = plan

    def _pick_place_plan(self, block: np.ndarray, above: np.ndarray,
                         bin_pose: Pose | None) -> list[Waypoint]:
        if bin_pose is None:
            raise ValueError("pick_place needs the bin pose in the observation")
        cfg = self.config
        carry = np.array([block[0], block[1], cfg.carry_height_m])
        over_bin = np.array([bin_pose.position[0], bin_pose.position[1], cfg.carry_height_m])
        release = over_bin.copy()
        release[2] = bin_pose.position[2] + cfg.release_height_m
        return [Waypoint(above, GRIPPER_OPEN_M), Waypoint(block, GRIPPER_OPEN_M),
                Waypoint(block, GRIPPER_CLOSED_M, cfg.gripper_wait_s),
                Waypoint(carry, GRIPPER_CLOSED_M), Waypoint(over_bin, GRIPPER_CLOSED_M),
                Waypoint(release, GRIPPER_CLOSED_M),
                Waypoint(release, GRIPPER_OPEN_M, cfg.gripper_wait_s),
                Waypoint(over_bin, GRIPPER_OPEN_M)]

    def _advance(self, obs: ExpertObservation) -> None:
        """Go to the next waypoint once the tool has been there for the waypoint's dwell time."""
        if self.done:
            return
        cfg = self.config
        waypoint = self._waypoints[self._index]
        self._time_at_waypoint_s += cfg.control_dt_s
        measured = self.kinematics.forward(obs.joint_positions).position
        arrived = (np.linalg.norm(measured - waypoint.position) < cfg.waypoint_tolerance_m
                   and np.allclose(self._set_point, waypoint.position))
        settled = arrived or self._time_at_waypoint_s > cfg.waypoint_timeout_s
        if settled:
            self._dwell_s += cfg.control_dt_s
        if settled and self._dwell_s >= waypoint.dwell_s:
            self._index += 1
            self._time_at_waypoint_s = 0.0
            self._dwell_s = 0.0

    def _move_set_point(self, goal: np.ndarray) -> None:
        """Step the set-point (position and yaw) towards ``goal`` at the configured speeds."""
        step_m = self.config.speed_mps * self.config.control_dt_s
        delta = goal - self._set_point
        distance = np.linalg.norm(delta)
        self._set_point = goal.copy() if distance <= step_m else self._set_point + delta * (step_m / distance)
        yaw_step = self.config.yaw_rate_rad_s * self.config.control_dt_s
        yaw_delta = _wrap(self._goal_yaw_rad - self._yaw_rad)
        self._yaw_rad += float(np.clip(yaw_delta, -yaw_step, yaw_step))


def grasp_yaw(block_pose: Pose, natural_yaw: float, current_yaw: float) -> float:
    """Tool yaw aligned with a block face (a cube looks the same every quarter turn), closest to
    ``natural_yaw`` (the yaw the arm has when reaching straight out) and unwrapped near
    ``current_yaw`` so the wrist turns the short way."""
    block_yaw = tool_yaw(block_pose)
    candidates = block_yaw + QUARTER_TURN_RAD * np.arange(-4, 5)
    best = candidates[np.argmin(np.abs(_wrap(candidates - natural_yaw)))]
    return current_yaw + _wrap(best - current_yaw)


def _wrap(angle_rad: np.ndarray | float) -> np.ndarray | float:
    """Angle(s) wrapped to [-pi, pi)."""
    return (np.asarray(angle_rad) + np.pi) % (2 * np.pi) - np.pi
