# SPDX-License-Identifier: Apache-2.0
"""Where the command arbiter's trajectories go: one sink per command group of the preset.

The arbiter decides (``control/arbitration.py``); a sink only delivers its group's columns of
each trajectory, in the form that group's controller takes, and reports a refusal back. What
each real interface does, and so what a sink must expect:

* ``joint_trajectory_topic``: a joint_trajectory_controller's ``~/joint_trajectory``
  (trajectory_msgs/JointTrajectory, reliable). A topic has no answer: a refused message is lost
  silently, so presets of real arms prefer the action.
* ``follow_joint_trajectory``: control_msgs/FollowJointTrajectory, as ros2_controllers'
  joint_trajectory_controller serves it (joint_trajectory_controller.cpp, commit
  8b708cb9f8a072cee4b4283e1af94707d702728d): ``goal_received_callback`` rejects a goal that
  ``validate_trajectory_msg`` refuses (joints not the controller's, "Joints on incoming trajectory
  don't match the controller joints"; a stamped trajectory that ends in the past; time_from_start
  not increasing); the goal response carries no reason, JTC logs it. ``update()`` aborts the
  active goal with ``PATH_TOLERANCE_VIOLATED`` or ``GOAL_TOLERANCE_VIOLATED``;
  ``goal_cancelled_callback`` cancels it on anyone's request; ``preempt_active_goal`` cancels it
  (``INVALID_GOAL``, "Current goal cancelled due to new incoming action.") when a newer goal
  arrives, which for our own newer goal is no failure. Other servers of the action (vendor
  drivers, MoveIt's simple controller manager reading it) also use ``INVALID_JOINTS`` and
  ``OLD_HEADER_TIMESTAMP`` (the codes of control_msgs' FollowJointTrajectory.action Result,
  third_party/control_msgs). A rejection, an abort, a cancel of our newest goal, or any result
  whose ``error_code`` is not ``SUCCESSFUL`` goes to ``on_failure`` with the code's name and the
  server's ``error_string`` (the arbiter HOLDs and says why in ``~/status``).
* ``gripper_command``: control_msgs/GripperCommand (franka_gripper's ``~/gripper_action``:
  ``command.position`` is one finger's travel, the width is twice it; gripper_action_controller:
  the joint position). A goal is sent when the target moves by more than ``tolerance``.
* ``interbotix_trajectory`` / ``interbotix_single``: Trossen's interbotix_xs_sdk, one driver per arm,
  subscribing ``commands/joint_trajectory`` (JointTrajectoryCommand, ``cmd_type`` group + the
  motor group name) and ``commands/joint_single`` (JointSingleCommand, e.g. the gripper), in its
  namespace (Interbotix/interbotix_ros_core humble, interbotix_xs_sdk/src/xs_sdk_obj.cpp). Its
  gripper ``cmd`` is the gripper motor's angle [rad]: Trossen's ALOHA sends
  ``FOLLOWER_GRIPPER_JOINT_UNNORMALIZE_FN(policy value)`` (Interbotix/aloha aloha/real_env.py
  ``set_gripper_pose``); the preset's ``joint_units`` says so and :class:`Sink` converts.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rclpy.action import ActionClient
from rclpy.node import Node
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from cosmos_policy_ros.control.joint_map import group_columns
from cosmos_policy_ros.presets import CommandGroup, JointUnits
from cosmos_policy_ros.ros.qos import COMMAND_QOS

OnFailure = Callable[[str, str], None]  # (group name, reason)
GRIPPER_TOLERANCE = 1e-3  # [robot units] smaller target changes send no new gripper goal


def select_columns(msg: JointTrajectory, columns: Sequence[int], names: Sequence[str],
                   units: Sequence[JointUnits | None] = ()) -> JointTrajectory:
    """The same trajectory over a subset of its joints (every per-joint field that is filled), a
    column with :class:`JointUnits` converted to the robot's units (positions offset and scaled,
    velocities and accelerations scaled, effort as it is)."""
    units = list(units) or [None] * len(columns)
    out = JointTrajectory(header=msg.header, joint_names=list(names))
    for point in msg.points:
        part = JointTrajectoryPoint(time_from_start=point.time_from_start)
        for name in ("positions", "velocities", "accelerations", "effort"):
            values = getattr(point, name)
            if len(values):
                setattr(part, name, [_robot_value(name, unit, float(values[c])) for c, unit in zip(columns, units)])
        out.points.append(part)
    return out


def _robot_value(field_name: str, units: JointUnits | None, value: float) -> float:
    if units is None or field_name == "effort":
        return value
    return units.to_robot(value) if field_name == "positions" else units.rate_to_robot(value)


class Sink:
    """Delivers one group's part of every trajectory."""

    def __init__(self, node: Node, group: CommandGroup, on_failure: OnFailure,
                 units: Mapping[str, JointUnits] | None = None) -> None:
        self.node, self.group, self.on_failure = node, group, on_failure
        self._units = [(units or {}).get(joint) for joint in group.joints]

    def send(self, msg: JointTrajectory) -> None:
        """Deliver this group's columns, in the names and units of its interface."""
        self.deliver(select_columns(msg, group_columns(self.group, msg.joint_names), self.group.names_on_robot,
                                    self._units))

    def deliver(self, part: JointTrajectory) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.group.name} -> {self.group.interface} {self.group.target}"


class TrajectoryTopicSink(Sink):
    def __init__(self, node: Node, group: CommandGroup, on_failure: OnFailure,
                 units: Mapping[str, JointUnits] | None = None) -> None:
        super().__init__(node, group, on_failure, units)
        self._pub = node.create_publisher(JointTrajectory, group.target, COMMAND_QOS)

    def deliver(self, part: JointTrajectory) -> None:
        self._pub.publish(part)


# control_msgs/action/FollowJointTrajectory Result.error_code and action_msgs/msg/GoalStatus
# constants, by name: a failure names what the controller said, not a bare number.
FJT_ERROR_CODES = ("SUCCESSFUL", "INVALID_GOAL", "INVALID_JOINTS", "OLD_HEADER_TIMESTAMP", "PATH_TOLERANCE_VIOLATED",
                   "GOAL_TOLERANCE_VIOLATED")
GOAL_STATUSES = ("STATUS_UNKNOWN", "STATUS_ACCEPTED", "STATUS_EXECUTING", "STATUS_CANCELING", "STATUS_SUCCEEDED",
                 "STATUS_CANCELED", "STATUS_ABORTED")


class FollowJointTrajectorySink(Sink):
    def __init__(self, node: Node, group: CommandGroup, on_failure: OnFailure,
                 units: Mapping[str, JointUnits] | None = None) -> None:
        super().__init__(node, group, on_failure, units)
        from action_msgs.msg import GoalStatus
        from control_msgs.action import FollowJointTrajectory

        self._action, self._status = FollowJointTrajectory, GoalStatus
        self._code_names = {getattr(FollowJointTrajectory.Result, name): name for name in FJT_ERROR_CODES}
        self._status_names = {getattr(GoalStatus, name): name for name in GOAL_STATUSES}
        self._client = ActionClient(node, FollowJointTrajectory, group.target)
        self._sequence = 0

    def deliver(self, part: JointTrajectory) -> None:
        if not self._client.server_is_ready():
            self.on_failure(self.group.name, f"action server {self.group.target} is not available")
            return
        self._sequence += 1
        sequence = self._sequence
        future = self._client.send_goal_async(self._action.Goal(trajectory=part))
        future.add_done_callback(lambda f: self._on_goal_response(f, sequence))

    def _on_goal_response(self, future: Any, sequence: int) -> None:
        handle = future.result()
        if not handle.accepted:
            self.on_failure(self.group.name, f"{self.group.target} rejected the trajectory goal (a controller "
                                             f"logs why: joints not its own, ends in the past, times not increasing)")
            return
        handle.get_result_async().add_done_callback(lambda f: self._on_result(f, sequence))

    def _on_result(self, future: Any, sequence: int) -> None:
        reason = self._failure(future.result().status, future.result().result, sequence != self._sequence)
        if reason:
            self.on_failure(self.group.name, reason)

    def _failure(self, status: int, result: Any, superseded: bool) -> str | None:
        """Why a finished goal is a failure (None: it is not): anything but SUCCEEDED with SUCCESSFUL,
        except our own older goal canceled by the controller for our newer one."""
        code, success = result.error_code, self._action.Result.SUCCESSFUL
        if status == self._status.STATUS_SUCCEEDED and code == success:
            return None
        if status == self._status.STATUS_CANCELED and superseded:
            return None
        ended = {self._status.STATUS_ABORTED: "aborted", self._status.STATUS_CANCELED: "canceled",
                 self._status.STATUS_SUCCEEDED: "finished"}.get(
                     status, f"ended ({self._status_names.get(status, status)})")
        reason = f"{self.group.target} {ended} the trajectory goal"
        if code != success:
            reason += f": {self._code_names.get(code, 'unknown error_code')} ({code})"
        return f"{reason}: {result.error_string}" if result.error_string else reason


class GripperCommandSink(Sink):
    def __init__(self, node: Node, group: CommandGroup, on_failure: OnFailure,
                 units: Mapping[str, JointUnits] | None = None) -> None:
        super().__init__(node, group, on_failure, units)
        from control_msgs.action import GripperCommand

        self._action = GripperCommand
        self._client = ActionClient(node, GripperCommand, group.target)
        self._max_effort = float(group.options.get("max_effort", 0.0))
        self._last = math.nan

    def deliver(self, part: JointTrajectory) -> None:
        if not part.points:
            return
        target = part.points[-1].positions[0]
        if abs(target - self._last) <= GRIPPER_TOLERANCE:
            return
        if not self._client.server_is_ready():
            self.on_failure(self.group.name, f"gripper action {self.group.target} is not available")
            return
        self._last = target
        goal = self._action.Goal()
        goal.command.position, goal.command.max_effort = target, self._max_effort
        future = self._client.send_goal_async(goal)
        future.add_done_callback(self._on_goal_response)

    def _on_goal_response(self, future: Any) -> None:
        if not future.result().accepted:
            self._last = math.nan
            self.on_failure(self.group.name, f"{self.group.target} rejected the gripper goal")


class InterbotixTrajectorySink(Sink):
    def __init__(self, node: Node, group: CommandGroup, on_failure: OnFailure,
                 units: Mapping[str, JointUnits] | None = None) -> None:
        super().__init__(node, group, on_failure, units)
        from interbotix_xs_msgs.msg import JointTrajectoryCommand

        self._msg = JointTrajectoryCommand
        self._pub = node.create_publisher(JointTrajectoryCommand, group.target, COMMAND_QOS)

    def deliver(self, part: JointTrajectory) -> None:
        self._pub.publish(self._msg(cmd_type="group", name=str(self.group.options.get("group", "arm")), traj=part))


class InterbotixSingleSink(Sink):
    def __init__(self, node: Node, group: CommandGroup, on_failure: OnFailure,
                 units: Mapping[str, JointUnits] | None = None) -> None:
        super().__init__(node, group, on_failure, units)
        from interbotix_xs_msgs.msg import JointSingleCommand

        self._msg = JointSingleCommand
        self._pub = node.create_publisher(JointSingleCommand, group.target, COMMAND_QOS)

    def deliver(self, part: JointTrajectory) -> None:
        if part.points:
            self._pub.publish(self._msg(name=part.joint_names[0], cmd=float(part.points[-1].positions[0])))


SINKS = {"joint_trajectory_topic": TrajectoryTopicSink, "follow_joint_trajectory": FollowJointTrajectorySink,
         "gripper_command": GripperCommandSink, "interbotix_trajectory": InterbotixTrajectorySink,
         "interbotix_single": InterbotixSingleSink}


def make_sinks(node: Node, groups: Sequence[CommandGroup], on_failure: OnFailure,
               units: Mapping[str, JointUnits] | None = None) -> list[Sink]:
    """One sink per group; a missing message package is a clear error naming it and setup.sh."""
    sinks = []
    for group in groups:
        try:
            sinks.append(SINKS[group.interface](node, group, on_failure, units))
        except ImportError as error:
            raise RuntimeError(f"command group {group.name!r} ({group.interface}) needs {error.name}: install it "
                               f"with your ROS 2 or run scripts/setup.sh (builds it from third_party/)") from error
    return sinks
