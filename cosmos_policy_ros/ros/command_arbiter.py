# SPDX-License-Identifier: Apache-2.0
"""command_arbiter: the only publisher to the arm controller (see docs/INTERFACES.md).

A thin adapter: parameters -> :class:`~cosmos_policy_ros.control.arbitration.Arbiter`, messages ->
plain values -> arbiter -> JointTrajectory. All decisions (modes, stitching, limits, watchdog,
shadow mode, gripper handling) live in ``control/`` and are documented there.

Threads: one executor thread. rclpy's MultiThreadedExecutor busy-polls its wait set while a
callback is queued for a worker (measured: ~95 % of a core in the closed loop, starving the policy
on a 2-core machine); every arbiter callback takes well under a millisecond, so the watchdog is
delayed by at most one of them. The callback groups and the lock keep the node correct under a
multi-threaded executor too (e.g. when composed), and commands are published under the lock, so
the controller sees them in decision order.
"""
from __future__ import annotations

import functools
import math
import threading
import time
from dataclasses import dataclass
from typing import ClassVar

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from cosmos_policy_msgs.msg import ActionChunk, PolicyStatus
from cosmos_policy_msgs.srv import SetMode
from cosmos_policy_ros.control.kinematics import IkConfig
from cosmos_policy_ros.control.arbitration import Arbiter, ArbiterConfig, Command, PolicyChunk
from cosmos_policy_ros.control.input_validation import InputError, check_duration_fields
from cosmos_policy_ros.control.joint_map import JointStateMerger
from cosmos_policy_ros.control.limits import LimitSettings
from cosmos_policy_ros.control.modes import Mode, RequestResult
from cosmos_policy_ros.control.stitching import StitchConfig
from cosmos_policy_ros.control.watchdog import WATCHDOG_PERIOD_S
from cosmos_policy_ros.presets import RobotPreset, load_preset
from cosmos_policy_ros.ros.conversions import NANOSECONDS_PER_SECOND, joint_trajectory, stamp_to_seconds
from cosmos_policy_ros.ros.node_main import run_node
from cosmos_policy_ros.ros.params import NodeParams, ParamSpec
from cosmos_policy_ros.ros.qos import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS
from cosmos_policy_ros.ros.sinks import make_sinks

NODE_NAME = "command_arbiter"
ROBOT_DESCRIPTION_TOPIC = "robot_description"  # robot_state_publisher's topic, namespace-relative


@dataclass(frozen=True)
class ArbiterParams(NodeParams):
    """The node's parameters (all fixed at start: they build the arbiter)."""

    SPECS: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("robot", "sim_arm", "Robot preset: a name under config/robots or a preset YAML path.",
                  read_only=True),
        ParamSpec("limits.urdf_path", "", "URDF that gives the joint limits; empty = the preset's urdf, and "
                  "when the preset has none, the robot_description topic (robot_state_publisher).",
                  read_only=True),
        ParamSpec("limits.robot_description_timeout_s", 10.0, "How long to wait at start for the "
                  "robot_description topic when no URDF file is given [s].", read_only=True,
                  min_value=0.1, max_value=600.0),
        ParamSpec.of("limits.acceleration", LimitSettings, "acceleration"),
        ParamSpec.of("limits.velocity_scale", LimitSettings, "velocity_scale"),
        ParamSpec.of("limits.check_gripper_rates", LimitSettings, "check_gripper_rates"),
        ParamSpec.of("limits.position_saturation", ArbiterConfig, "position_saturation"),
        ParamSpec.of("stitching.latency_margin_s", StitchConfig, "latency_margin_s"),
        ParamSpec.of("stitching.min_seam_s", StitchConfig, "min_seam_s"),
        ParamSpec.of("stitching.max_stamp_ahead_s", StitchConfig, "max_stamp_ahead_s"),
        ParamSpec.of("watchdog.margin_s", ArbiterConfig, "watchdog_margin_s"),
        ParamSpec("watchdog.period_s", WATCHDOG_PERIOD_S, "Watchdog timer period [s].", read_only=True,
                  min_value=0.001, max_value=1.0),
        ParamSpec.of("value_threshold", ArbiterConfig, "value_threshold"),
        ParamSpec.of("shadow_mode", ArbiterConfig, "shadow_mode"),
        ParamSpec.of("start_mode", ArbiterConfig, "start_mode"),
        ParamSpec.of("teleop.target_lead_s", ArbiterConfig, "teleop_target_lead_s"),
        ParamSpec.of("hold.time_from_start_s", ArbiterConfig, "hold_time_from_start_s"),
        ParamSpec.of("hold.stop_step_s", ArbiterConfig, "stop_step_s"),
        ParamSpec.of("limits.max_chunk_dt_s", ArbiterConfig, "max_chunk_dt_s"),
        ParamSpec.of("limits.measured_tolerance", ArbiterConfig, "measured_tolerance"),
        ParamSpec("status_period_s", 1.0, "Period of the ~/status republish [s].", read_only=True,
                  min_value=0.01, max_value=60.0),
        ParamSpec.of("ee.link", IkConfig, "ee_link"),
        ParamSpec.of("ee.translation_scale_m", IkConfig, "translation_scale_m"),
        ParamSpec.of("ee.rotation_scale_rad", IkConfig, "rotation_scale_rad"),
    )
    robot: str
    limits_urdf_path: str
    limits_robot_description_timeout_s: float
    limits_acceleration: tuple[float, ...]
    limits_velocity_scale: float
    limits_check_gripper_rates: bool
    limits_position_saturation: float
    stitching_latency_margin_s: float
    stitching_min_seam_s: float
    stitching_max_stamp_ahead_s: float
    watchdog_margin_s: float
    watchdog_period_s: float
    value_threshold: float
    shadow_mode: bool
    start_mode: str
    teleop_target_lead_s: float
    hold_time_from_start_s: float
    hold_stop_step_s: float
    limits_max_chunk_dt_s: float
    limits_measured_tolerance: float
    status_period_s: float
    ee_link: str
    ee_translation_scale_m: float
    ee_rotation_scale_rad: float

    def arbiter(self, preset: RobotPreset, urdf_xml: str) -> Arbiter:
        """The arbiter these parameters describe (``Arbiter.from_settings``)."""
        return Arbiter.from_settings(
            preset, urdf_xml,
            limits=LimitSettings(self.limits_acceleration, self.limits_velocity_scale, self.limits_check_gripper_rates),
            ik=IkConfig(ee_link=self.ee_link, translation_scale_m=self.ee_translation_scale_m,
                        rotation_scale_rad=self.ee_rotation_scale_rad),
            stitch=StitchConfig(self.stitching_latency_margin_s, self.stitching_max_stamp_ahead_s,
                                self.stitching_min_seam_s),
            watchdog_margin_s=self.watchdog_margin_s, value_threshold=self.value_threshold,
            position_saturation=self.limits_position_saturation, teleop_target_lead_s=self.teleop_target_lead_s,
            hold_time_from_start_s=self.hold_time_from_start_s, stop_step_s=self.hold_stop_step_s,
            max_chunk_dt_s=self.limits_max_chunk_dt_s, measured_tolerance=self.limits_measured_tolerance,
            shadow_mode=self.shadow_mode, start_mode=Mode.parse(self.start_mode))


def urdf_file(params: ArbiterParams, preset: RobotPreset) -> str:
    """The URDF file that gives the limits: the parameter, else the preset's; "" = neither."""
    return params.limits_urdf_path or (str(preset.urdf_path) if preset.urdf else "")


def command_to_msg(command: Command) -> JointTrajectory:
    """A stitched trajectory as the JointTrajectory the controller executes at stamp + time_from_start.

    Points carry positions and velocities (the last one zero), so ros2_control's
    joint_trajectory_controller interpolates cubically ("Cubic: Position and velocity are specified.
    Guarantees continuity at the velocity level", ros2_controllers joint_trajectory_controller/doc/
    userdoc.rst), as the sim's follower does; since Jazzy JTC rejects a trajectory whose last point
    moves (``allow_nonzero_velocity_at_trajectory_end`` defaults to false, ros2_controllers
    doc/migration.rst, PR #834).
    """
    trajectory = command.trajectory
    return joint_trajectory(command.joint_names, trajectory.stamp_s, trajectory.positions,
                            trajectory.times_from_start_s, trajectory.point_velocities())


def _point_times(points) -> list[float]:
    """time_from_start of every point, each Duration's fields validated (nanosec below 1e9)."""
    return [check_duration_fields(f"points[{k}].time_from_start", p.time_from_start.sec, p.time_from_start.nanosec)
            for k, p in enumerate(points)]


class CommandArbiterNode(Node):
    """Subscribes to chunks, teleop and joint states; publishes the controller's trajectory."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        ArbiterParams.declare(self)
        self.params = ArbiterParams.from_node(self)
        preset = load_preset(self.params.robot)
        self.arbiter = self.params.arbiter(preset, self._robot_description(preset))
        self._states = JointStateMerger(preset.joints, preset.state_sources, preset.joint_units)
        self._lock = threading.RLock()  # a sink may report a failure while a command is being sent
        self._published_version = -1
        self._published_mode = self.arbiter.modes.mode
        inputs = MutuallyExclusiveCallbackGroup()
        watchdog = MutuallyExclusiveCallbackGroup()
        self._sinks = make_sinks(self, preset.command_groups, self._on_controller_failure, preset.joint_units)
        # Every executed trajectory, whole and in preset names, whatever the sinks make of it: what
        # the recorder records for presets whose controllers take actions or vendor messages.
        self._trajectory_pub = self.create_publisher(JointTrajectory, "~/trajectory", COMMAND_QOS)
        self._shadow_pub = self.create_publisher(JointTrajectory, "~/shadow_trajectory", COMMAND_QOS)
        self._status_pub = self.create_publisher(PolicyStatus, "~/status", LATCHED_QOS)
        self.create_subscription(ActionChunk, "action_chunk", self._on_chunk, COMMAND_QOS,
                                 callback_group=inputs)
        self.create_subscription(JointTrajectory, "teleop/joint_trajectory", self._on_teleop_trajectory,
                                 COMMAND_QOS, callback_group=inputs)
        self.create_subscription(JointState, "teleop/joint_targets", self._on_teleop_targets, SENSOR_QOS,
                                 callback_group=inputs)
        for source in preset.state_sources:
            self.create_subscription(JointState, source.topic, functools.partial(self._on_joint_state, source.topic),
                                     SENSOR_QOS, callback_group=inputs)
        self.create_service(SetMode, "~/set_mode", self._on_set_mode, callback_group=inputs)
        self.create_service(Trigger, "~/estop", self._on_estop, callback_group=inputs)
        self.create_service(Trigger, "~/reset", self._on_reset, callback_group=inputs)
        self.create_timer(self.params.watchdog_period_s, self._on_watchdog, callback_group=watchdog)
        self.create_timer(self.params.status_period_s, self._on_status_timer, callback_group=inputs)
        self._publish_status(force=True)
        cfg = self.arbiter.config
        self.get_logger().info(f"{NODE_NAME}: robot {self.params.robot}, {len(cfg.joint_names)} joints, "
                               f"action space {self.arbiter.converter.action_space}, mode "
                               f"{self.arbiter.modes.mode.name}, shadow {cfg.shadow_mode}; commands: "
                               f"{'; '.join(sink.describe() for sink in self._sinks)}")

    def _robot_description(self, preset: RobotPreset) -> str:
        """URDF text: from the file when one is given, else the latched robot_description topic.

        robot_state_publisher offers std_msgs/String on ``robot_description`` reliable and transient
        local (robot_state_publisher.cpp, ``rclcpp::QoS(1).transient_local()``), so a late
        subscriber with LATCHED_QOS still gets it. Waits here, before any command can be sent.
        """
        path = urdf_file(self.params, preset)
        if path:
            try:
                with open(path, encoding="utf-8") as f:
                    return f.read()
            except OSError as error:
                raise RuntimeError(f"{NODE_NAME}: cannot read the URDF {path!r} (limits.urdf_path or the "
                                   f"preset's urdf): {error}") from error
        received: list[str] = []
        sub = self.create_subscription(String, ROBOT_DESCRIPTION_TOPIC, lambda m: received.append(m.data),
                                       LATCHED_QOS)
        topic = sub.topic_name
        self.get_logger().info(f"waiting for the robot description on {topic} (preset {preset.name} "
                               f"names no URDF file)")
        executor = SingleThreadedExecutor(context=self.context)
        executor.add_node(self)
        deadline = time.monotonic() + self.params.limits_robot_description_timeout_s
        try:
            while not received and time.monotonic() < deadline and self.context.ok():
                executor.spin_once(timeout_sec=0.1)
        finally:
            executor.remove_node(self)
            executor.shutdown()
            self.destroy_subscription(sub)
        if not received:
            raise RuntimeError(
                f"{NODE_NAME}: no joint limits for preset {preset.name!r}: it names no URDF file, the parameter "
                f"limits.urdf_path is empty, and nothing was published on {topic} within "
                f"{self.params.limits_robot_description_timeout_s:g} s (start robot_state_publisher, or set "
                f"limits.urdf_path)")
        return received[0]

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds / NANOSECONDS_PER_SECOND

    def _publish(self, commands: list[Command]) -> None:
        """Publish commands and, if anything changed, the status (caller holds the lock)."""
        for command in commands:
            msg = command_to_msg(command)
            if command.shadow:
                self._shadow_pub.publish(msg)
            else:
                self._trajectory_pub.publish(msg)
                for sink in self._sinks:
                    sink.send(msg)
        self._publish_status()

    def _on_controller_failure(self, group: str, reason: str) -> None:
        """A controller refused or failed a command: HOLD, with its reason in ~/status."""
        if self.arbiter.modes.mode in (Mode.HOLD, Mode.ESTOP):
            return
        self._apply(lambda now_s: self.arbiter.request_mode(Mode.HOLD, f"controller {group}: {reason}", now_s))

    def _publish_status(self, force: bool = False) -> None:
        arbiter = self.arbiter
        if not force and arbiter.status_version == self._published_version:
            return
        self._published_version = arbiter.status_version
        mode = arbiter.modes.mode
        if mode != self._published_mode:
            # Operators read why the arm stopped in the log too, not only on ~/status.
            # (rclpy fixes a call site's severity at its first call: one call per severity)
            change = f"mode {self._published_mode.name} -> {mode.name}: {arbiter.reason}"
            if mode in (Mode.HOLD, Mode.ESTOP):
                self.get_logger().warning(change)
            else:
                self.get_logger().info(change)
            self._published_mode = mode
        msg = PolicyStatus(mode=int(arbiter.modes.mode), reason=arbiter.reason, source=NODE_NAME,
                           last_value=arbiter.last_value, observation_age_s=math.nan,
                           deadline_misses=arbiter.deadline_misses, rejected_chunks=arbiter.rejected_chunks,
                           call_for_teleop=arbiter.modes.call_for_teleop, model_name=arbiter.model_name,
                           inputs_received=arbiter.inputs_received,
                           rejected_inputs=arbiter.rejected_inputs + arbiter.rejected_teleop)
        msg.header.stamp = self.get_clock().now().to_msg()
        self._status_pub.publish(msg)

    # -- callbacks ----------------------------------------------------------------------------
    def _on_joint_state(self, topic: str, msg: JointState) -> None:
        """Merge the preset's joints of every state source (others ignored), then the arbiter."""
        now_s = self._now_s()
        stamp_s = stamp_to_seconds(msg.header.stamp) or now_s
        with self._lock:
            try:
                complete = self._states.update(topic, msg.name, msg.position, msg.velocity)
            except ValueError as err:
                self.arbiter.reject_input(f"joint state ignored: {err}")
                complete = False
            if complete:
                self.arbiter.on_joint_state(stamp_s, *self._states.state(), now_s)
            self._publish_status()

    def _on_chunk(self, msg: ActionChunk) -> None:
        with self._lock:
            try:
                chunk = PolicyChunk(stamp_s=stamp_to_seconds(msg.header.stamp), action_names=tuple(msg.joint_names),
                                    trajectory_names=tuple(msg.trajectory.joint_names),
                                    actions=[list(p.positions) for p in msg.trajectory.points], dt_s=msg.dt_s,
                                    step_times_s=_point_times(msg.trajectory.points), value=msg.value,
                                    model_name=msg.model_name, execute_steps=msg.execute_steps,
                                    call_for_teleop=msg.call_for_teleop)
            except InputError as err:
                self._publish(self.arbiter.reject_chunk_message(str(err), self._now_s()))
                return
            self._publish(self.arbiter.on_policy_chunk(chunk, self._now_s()))

    def _on_teleop_trajectory(self, msg: JointTrajectory) -> None:
        rows = [list(p.positions) for p in msg.points]
        stamp_s = stamp_to_seconds(msg.header.stamp)
        with self._lock:
            try:
                times = _point_times(msg.points)
            except InputError as err:
                self._publish(self.arbiter.reject_teleop_message(str(err)))
                return
            self._publish(self.arbiter.on_teleop_trajectory(msg.joint_names, rows, times, stamp_s,
                                                            self._now_s()))

    def _on_teleop_targets(self, msg: JointState) -> None:
        with self._lock:
            self._publish(self.arbiter.on_teleop_targets(msg.name, list(msg.position), self._now_s()))

    def _on_watchdog(self) -> None:
        with self._lock:
            self._publish(self.arbiter.on_tick(self._now_s()))

    def _on_status_timer(self) -> None:
        with self._lock:
            self._publish_status(force=True)

    def _apply(self, change) -> RequestResult:
        with self._lock:
            result, commands = change(self._now_s())
            self._publish(commands)
        self.get_logger().info(f"mode request: {result.message}")
        return result

    def _on_set_mode(self, request: SetMode.Request, response: SetMode.Response) -> SetMode.Response:
        try:
            mode = Mode(request.mode)
        except ValueError:
            response.success, response.message = False, f"unknown mode {request.mode}"
            response.mode = int(self.arbiter.modes.mode)
            return response
        reason = request.reason or "set_mode"
        result = self._apply(lambda now_s: self.arbiter.request_mode(mode, reason, now_s))
        response.success, response.message, response.mode = result.success, result.message, int(result.mode)
        return response

    def _on_estop(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        result = self._apply(lambda now_s: self.arbiter.estop("estop service", now_s))
        response.success, response.message = result.success, result.message
        return response

    def _on_reset(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        result = self._apply(lambda now_s: self.arbiter.reset("reset service", now_s))
        response.success, response.message = result.success, result.message
        return response

    def close(self) -> None:
        """run_node's shutdown hook: command HOLD at the measured position while the context lives.

        run_node then waits until the controllers' reliable readers acknowledged it (``_flush``,
        every publisher of the node: each sink's topic, not only ``~/trajectory``)."""
        if self.context.ok():
            with self._lock:
                self._publish(self.arbiter.shutdown_hold(self._now_s()))


def main(args: list[str] | None = None) -> None:
    """Portable main: SIGINT and SIGTERM both end in :meth:`CommandArbiterNode.close` (HOLD)."""
    run_node(CommandArbiterNode, args, num_threads=1)


if __name__ == "__main__":
    main()
