# SPDX-License-Identifier: Apache-2.0
"""sim_arm: the embedded robot. MuJoCo arm behind the topics a lab arm has (docs/INTERFACES.md).

A thin adapter around :class:`~cosmos_policy_ros.sim.session.SimSession`: it paces physics
against the wall clock (``real_time_factor``), publishes joint states, camera images (rgb8,
rendered offscreen with ``MUJOCO_GL=egl``) and privileged object poses at their sim-time rates,
follows ``/arm_controller/joint_trajectory`` with joint_trajectory_controller semantics (see
``sim/trajectory_follower.py``) and reports episode ends on ``task/events``.

Gripper: ``gripper_joint`` is an ordinary joint of the trajectory (finger travel per side [m],
gap = 2x; 0 = closed, 0.04 = open), position-controlled with the force capped by the URDF effort.

Time: with ``use_sim_time`` (or a ``real_time_factor`` other than 1) the node publishes ``/clock``
and stamps everything with sim time; other nodes then need ``use_sim_time`` too. Otherwise stamps
are ROS (wall) time, and a starved sim catches up rather than re-anchoring its stamps: the arm follows
trajectories on the ROS clock, as a real arm behind joint_trajectory_controller does, so the next
command (joined by command_arbiter at the previous one's state at ROS time now) continues the motion
the arm is in. A re-anchor ran the trajectory late by the stall, and the follower then closed that
gap to the joined command within one point (issue 21: wrist_3 at 6 rad/s). Everything runs in one
thread (SingleThreadedExecutor): the render contexts belong to it and no locks are needed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Pose as PoseMsg
from geometry_msgs.msg import PoseArray
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from cosmos_policy_msgs.msg import EpisodeEvent
from cosmos_policy_msgs.srv import ResetTask
from cosmos_policy_ros.presets import load_preset
from cosmos_policy_ros.ros.conversions import (NANOSECONDS_PER_SECOND, duration_to_seconds, numpy_to_image,
                                               seconds_to_stamp, stamp_to_seconds)
from cosmos_policy_ros.ros.node_main import run_node
from cosmos_policy_ros.ros.params import NodeParams, ParamSpec
from cosmos_policy_ros.ros.qos import COMMAND_QOS, EVENTS_QOS, SENSOR_QOS, STATE_QOS
from cosmos_policy_ros.sim.arm_sim import ArmSim
from cosmos_policy_ros.sim.scene import build_scene_config
from cosmos_policy_ros.sim.session import JOINT_STATE_RATE_HZ, EpisodeEnd, OutputRates, SimSession
from cosmos_policy_ros.sim.tasks import TASKS, Outcome, TaskConfig
from cosmos_policy_ros.sim.trajectory_follower import FollowerConfig, TrajectoryCommand

NODE_NAME = "sim_arm"
CONTROLLER_TOPIC = "/arm_controller/joint_trajectory"
WORLD_FRAME = "world"
LOG_THROTTLE_S = 5.0


@dataclass(frozen=True)
class SimArmParams(NodeParams):
    """The node's parameters."""

    SPECS: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("robot", "sim_arm", "Robot preset (joints, camera topics and resolutions).",
                  read_only=True),
        ParamSpec("scene", "", "Scene YAML (block size, camera mounts, target colours; "
                  "e.g. config/demo/scene_32.yaml); empty = the default scene.", read_only=True),
        ParamSpec("task", "reach", "Task of the first episode (later ones come from ~/reset_task).",
                  read_only=True, choices=tuple(TASKS)),
        ParamSpec("seed", 0, "Seed of the first episode.", read_only=True, min_value=0),
        ParamSpec("real_time_factor", 1.0, "Sim seconds per wall second (!= 1 publishes /clock).",
                  read_only=True, min_value=0.05, max_value=50.0),
        ParamSpec("joint_state_rate_hz", JOINT_STATE_RATE_HZ, "joint_states rate in sim time [Hz].", read_only=True,
                  min_value=1.0, max_value=500.0),
        ParamSpec("camera_rate_hz", 15.0, "Rate of every camera in sim time [Hz]; 0 = no images.",
                  read_only=True, min_value=0.0, max_value=60.0),
        ParamSpec("object_pose_rate_hz", 30.0, "sim/object_poses rate in sim time [Hz].", read_only=True,
                  min_value=1.0, max_value=500.0),
        ParamSpec("max_lag_s", 0.25, "Physics this far behind the wall clock: in real-time mode it catches "
                  "up without publishing the stale states in between; with sim time the clock slows down "
                  "instead [s].", read_only=True, min_value=0.01, max_value=10.0),
        ParamSpec.of("allow_partial_joints_goal", FollowerConfig, "allow_partial_joints_goal"),
    )
    robot: str
    scene: str
    task: str
    seed: int
    real_time_factor: float
    joint_state_rate_hz: float
    camera_rate_hz: float
    object_pose_rate_hz: float
    max_lag_s: float
    allow_partial_joints_goal: bool


class SimArmNode(Node):
    """MuJoCo arm with joint_trajectory_controller-like control, cameras and tasks."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        SimArmParams.declare(self)
        self.params = SimArmParams.from_node(self)
        self.preset = load_preset(self.params.robot)
        use_sim_time = bool(self.get_parameter("use_sim_time").value)
        self.sim_time_mode = use_sim_time or self.params.real_time_factor != 1.0
        cameras = tuple((c.name, c.height, c.width) for c in self.preset.cameras)
        sim = ArmSim(build_scene_config(cameras, self.params.scene),
                     FollowerConfig(allow_partial_joints_goal=self.params.allow_partial_joints_goal))
        if tuple(self.preset.joints) != sim.joint_names:
            raise ValueError(f"preset joints {self.preset.joints} differ from the sim's {sim.joint_names}")
        self.session = SimSession(sim, TaskConfig.for_scene(self.params.scene))
        if self.params.camera_rate_hz > 0:
            for camera in self.preset.cameras:
                sim.render(camera.name)  # create the render contexts now, in the spinning thread
        self.session.reset(self.params.task, self.params.seed, self._fresh_epoch_s())
        self._anchor_wall_s, self._anchor_sim_s = 0.0, 0.0
        self._anchor()  # with the epoch: stamps are the wall clock's from the first one on
        self._joint_state_pub = self.create_publisher(JointState, self.preset.joint_states_topic, STATE_QOS)
        self._image_pubs = {c.name: self.create_publisher(Image, c.topic, SENSOR_QOS)
                            for c in self.preset.cameras}
        self._pose_pub = self.create_publisher(PoseArray, "sim/object_poses", SENSOR_QOS)
        self._event_pub = self.create_publisher(EpisodeEvent, "task/events", EVENTS_QOS)
        self._clock_pub = self.create_publisher(ClockMsg, "/clock", 10) if self.sim_time_mode else None
        self.create_subscription(JointTrajectory, CONTROLLER_TOPIC, self._on_trajectory, COMMAND_QOS)
        self.create_service(ResetTask, "~/reset_task", self._on_reset_task)
        self.create_service(Trigger, "~/task_success", self._on_task_success)
        self._period_s = 1.0 / self.params.joint_state_rate_hz
        self._rates = OutputRates({"camera": self.params.camera_rate_hz, "poses": self.params.object_pose_rate_hz},
                                  self.session.stamp_s)  # due from the first stamp
        # Pace on the steady clock: with /clock the node's own clock would wait for itself.
        self.create_timer(self._period_s / max(1.0, self.params.real_time_factor), self._on_tick,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(f"sim_arm ready: task {self.params.task}, seed {self.params.seed}, "
                               f"{'sim time (/clock)' if self.sim_time_mode else 'real time'}, "
                               f"real_time_factor {self.params.real_time_factor}")

    # --- pacing ------------------------------------------------------------------------------
    def _fresh_epoch_s(self) -> float:
        """Stamp origin of a new episode (see SimSession)."""
        if self.sim_time_mode:
            return self.session.stamp_s if self.session.episode is not None else 0.0
        return self.get_clock().now().nanoseconds / NANOSECONDS_PER_SECOND

    def _anchor(self) -> None:
        self._anchor_wall_s = time.monotonic()
        self._anchor_sim_s = self.session.sim.time_s

    def _on_tick(self) -> None:
        elapsed_wall_s = time.monotonic() - self._anchor_wall_s
        wanted_sim_s = self._anchor_sim_s + elapsed_wall_s * self.params.real_time_factor
        lag_s = wanted_sim_s - self.session.sim.time_s
        if lag_s <= self.params.max_lag_s * self.params.real_time_factor:
            stale_before_s = -1.0
        elif self.sim_time_mode:  # the sim is the clock: it slows down, every node's time with it
            self.get_logger().warning(f"physics is {lag_s:.2f} s behind the wall clock; slowing sim time",
                                      throttle_duration_sec=LOG_THROTTLE_S)
            self._anchor()
            return
        else:  # physics is cheap, rendering and publishing are not: skip only what would be stale
            self.get_logger().warning(f"physics is {lag_s:.2f} s behind the wall clock; catching up without "
                                      "publishing the states in between", throttle_duration_sec=LOG_THROTTLE_S)
            stale_before_s = wanted_sim_s - self.params.max_lag_s
        while self.session.sim.time_s + self._period_s <= wanted_sim_s + 1e-9:
            ended = self.session.step(self._period_s)
            if self.session.sim.time_s >= stale_before_s:
                self._publish_state()
            if ended is not None:
                self._publish_end(ended)

    def _publish_state(self) -> None:
        stamp_s = self.session.stamp_s
        stamp = seconds_to_stamp(stamp_s)
        if self._clock_pub is not None:
            self._clock_pub.publish(ClockMsg(clock=stamp))
        sim = self.session.sim
        self._joint_state_pub.publish(JointState(
            header=_header(stamp, ""), name=list(sim.joint_names), position=sim.joint_positions().tolist(),
            velocity=sim.joint_velocities().tolist(), effort=sim.joint_efforts().tolist()))
        if self._rates.due("poses", stamp_s):
            self._pose_pub.publish(PoseArray(header=_header(stamp, WORLD_FRAME), poses=[
                _pose_msg(position, quat) for position, quat in self.session.object_poses()]))
        if self._rates.due("camera", stamp_s):
            for camera in self.preset.cameras:
                self._image_pubs[camera.name].publish(
                    numpy_to_image(sim.render(camera.name), "rgb8", _header(stamp, f"{camera.name}_camera")))

    # --- events, commands, services ----------------------------------------------------------
    def _publish_end(self, ended: EpisodeEnd) -> None:
        success = ended.outcome is Outcome.SUCCESS
        note = "success" if success else f"time limit {ended.episode.time_limit_s:.1f} s reached"
        self._event_pub.publish(EpisodeEvent(
            header=_header(seconds_to_stamp(ended.stamp_s), WORLD_FRAME), event=EpisodeEvent.END,
            episode_id=self.session.episode_id,
            outcome=EpisodeEvent.OUTCOME_SUCCESS if success else EpisodeEvent.OUTCOME_FAILURE,
            score=1.0 if success else 0.0, task=ended.episode.task, note=note))
        self.get_logger().info(f"episode {self.session.episode_id} ended: {note}")

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        command, reason = trajectory_to_command(msg)
        stamp_s = stamp_to_seconds(msg.header.stamp)
        if command is not None:
            result = self.session.command(command, None if stamp_s == 0.0 else stamp_s)
            reason = "" if result.accepted else result.reason
        if reason:
            self.get_logger().warning(f"trajectory rejected, holding: {reason}")

    def _on_reset_task(self, request: ResetTask.Request, response: ResetTask.Response) -> ResetTask.Response:
        if request.seed < 0:
            response.success, response.message = False, f"seed={request.seed} must be >= 0"
            return response
        try:
            episode = self.session.reset(request.task, request.seed, self._fresh_epoch_s(), request.target)
        except ValueError as error:
            response.success, response.message = False, str(error)
            return response
        self._anchor()
        self._rates.restart(self.session.stamp_s)  # due from the new episode's first stamp, as at start
        response.success, response.message = True, episode.instruction
        self.get_logger().info(f"reset {self.session.episode_id}: {episode.instruction}")
        return response

    def _on_task_success(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success = self.session.succeeded()
        episode = self.session.episode
        response.message = f"{episode.task}: {episode.instruction}" if episode is not None else "no episode"
        return response

    def close(self) -> None:
        """run_node's shutdown hook: free the render contexts on the thread that made them."""
        self.session.sim.close()


def trajectory_to_command(msg: JointTrajectory) -> tuple[TrajectoryCommand | None, str]:
    """A JointTrajectory as a follower command, or (None, reason) when points are ragged."""
    num_joints = len(msg.joint_names)
    for k, point in enumerate(msg.points):
        if len(point.positions) != num_joints:
            return None, f"point {k} has {len(point.positions)} positions for {num_joints} joints"
        if len(point.velocities) not in (0, num_joints):
            return None, f"point {k} has {len(point.velocities)} velocities for {num_joints} joints"
    with_velocities = [len(p.velocities) == num_joints for p in msg.points]
    if any(with_velocities) and not all(with_velocities):
        return None, "velocities must be given for every point or for none"
    times = np.array([duration_to_seconds(p.time_from_start) for p in msg.points])
    positions = np.array([list(p.positions) for p in msg.points], dtype=np.float64).reshape(-1, num_joints)
    velocities = (np.array([list(p.velocities) for p in msg.points], dtype=np.float64)
                  if msg.points and all(with_velocities) else None)
    return TrajectoryCommand(tuple(msg.joint_names), times, positions, velocities), ""


def _header(stamp: Time, frame_id: str) -> Header:
    return Header(stamp=stamp, frame_id=frame_id)


def _pose_msg(position: np.ndarray, quaternion_wxyz: np.ndarray) -> PoseMsg:
    msg = PoseMsg()
    msg.position.x, msg.position.y, msg.position.z = (float(v) for v in position)
    orientation = msg.orientation
    orientation.w, orientation.x, orientation.y, orientation.z = (float(v) for v in quaternion_wxyz)
    return msg


def main(args: list[str] | None = None) -> None:
    """Portable main; one thread builds the node, runs every callback and frees the render contexts."""
    run_node(SimArmNode, args, num_threads=1)


if __name__ == "__main__":
    main()
