# SPDX-License-Identifier: Apache-2.0
"""`ros2 launch ... bringup.launch.py robot:=<fr3|ur|aloha>` against a stand-in of that robot's stack.

The stand-in offers what the real stack offers, checked against its source (see each preset's
citations): joint states with joints the preset does not use (franka_ros2's second finger,
interbotix's finger joints), one state topic per ALOHA arm with the arm's own names, a latched
``robot_description``, JTC's FollowJointTrajectory semantics (a goal whose joint set differs from
the controller's is rejected), franka_gripper's GripperCommand action, and the interbotix command
topics. Policy: random tiny weights (``allow_random_init``), centred on the stand-in's pose.
"""
from __future__ import annotations

import math

import pytest

pytest.importorskip("rclpy", reason="needs the ROS 2 Python wheels")
pytest.importorskip("control_msgs.action", reason="needs control_msgs (scripts/setup.sh builds it)")
pytest.importorskip("interbotix_xs_msgs.msg", reason="needs interbotix_xs_msgs (scripts/setup.sh builds it)")

import threading  # noqa: E402

from action_msgs.msg import GoalInfo  # noqa: E402
from action_msgs.srv import CancelGoal  # noqa: E402
from control_msgs.action import FollowJointTrajectory, GripperCommand  # noqa: E402
from interbotix_xs_msgs.msg import JointSingleCommand, JointTrajectoryCommand  # noqa: E402
from rclpy.action import ActionServer, CancelResponse, GoalResponse  # noqa: E402
from rclpy.callback_groups import ReentrantCallbackGroup  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint  # noqa: E402

from cosmos_policy_msgs.msg import PolicyStatus  # noqa: E402
from cosmos_policy_ros.presets import RobotPreset, load_preset  # noqa: E402
from cosmos_policy_ros.ros.conversions import seconds_to_duration  # noqa: E402
from cosmos_policy_ros.ros.graph import PACKAGE  # noqa: E402
from cosmos_policy_ros.ros.qos import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS  # noqa: E402

from ros_helpers import SpinningNode, start_node_process, stop_process, urdf_for, wait_for  # noqa: E402
from test_launch_kit import LAUNCH_WAIT_S, param, set_policy_mode, wait_for_state  # noqa: E402

pytestmark = pytest.mark.ros
STATE_PERIOD_S = 0.02
CAMERA_PERIOD_S = 0.1
# The tiny model's latent frame holds 256 action values; ALOHA's 50 x 14 chunk needs demo-small's.
RANDOM_MODEL = {"fr3": "tiny", "ur": "tiny", "aloha": "demo-small"}
EXTRA_JOINTS = {"fr3": ("fr3_finger_joint2",), "ur": (), "aloha": ("left_finger", "right_finger")}
CONTROLLER_POLL_S = 0.01  # how often an executing stand-in goal looks for a cancel request
STAND_IN_THREADS = 4  # goals execute until preempted, so they need threads of their own


class TrajectoryControllerStandIn:
    """control_msgs/FollowJointTrajectory served as ros2_controllers' joint_trajectory_controller
    does (joint_trajectory_controller.cpp, commit 8b708cb9f8a072cee4b4283e1af94707d702728d):

    * ``goal_received_callback``: REJECT when the goal's joints are not the controller's
      (``validate_trajectory_msg``, allow_partial_joints_goal false as in the UR and FR3 configs).
    * ``goal_accepted_callback`` -> ``preempt_active_goal``: a new goal cancels the active one with
      ``INVALID_GOAL`` / "Current goal cancelled due to new incoming action." (rclpy has no server-side
      cancel of an executing goal, so the stand-in asks its own cancel service, as a client would).
    * ``goal_cancelled_callback``: every cancel request is accepted; the goal ends CANCELED.
    * ``update()``: a tolerance violation aborts the goal with ``PATH_TOLERANCE_VIOLATED`` or
      ``GOAL_TOLERANCE_VIOLATED``; other servers of the action use ``INVALID_JOINTS`` and
      ``OLD_HEADER_TIMESTAMP``. Here ``outcome`` (``follow``, ``reject`` or a Result code name)
      says what the next goals get; a followed goal executes until preempted or canceled.
    """

    def __init__(self, node, action: str, joints: tuple[str, ...]) -> None:
        self.action, self.joints, self.outcome = action, joints, "follow"
        self.accepted: list[list[str]] = []
        self.preempted = 0
        self._closed = threading.Event()
        self._active = None
        self._preempting: set[bytes] = set()
        self._running: set[bytes] = set()  # goals whose execute callback has not returned
        self._cancel = node.create_client(CancelGoal, f"{action}/_action/cancel_goal")
        self._server = ActionServer(node, FollowJointTrajectory, action, self._execute, goal_callback=self._on_goal,
                                    handle_accepted_callback=self._on_accepted,
                                    cancel_callback=lambda handle: CancelResponse.ACCEPT,
                                    callback_group=ReentrantCallbackGroup())

    def _on_goal(self, goal) -> GoalResponse:
        names = list(goal.trajectory.joint_names)
        if self.outcome == "reject" or sorted(names) != sorted(self.joints):
            return GoalResponse.REJECT
        self.accepted.append(names)
        return GoalResponse.ACCEPT

    def _on_accepted(self, handle) -> None:
        previous, self._active = self._active, handle
        if previous is not None and previous.is_active:
            self._preempting.add(bytes(previous.goal_id.uuid))
            self._cancel.call_async(CancelGoal.Request(goal_info=GoalInfo(goal_id=previous.goal_id)))
        handle.execute()

    def _execute(self, handle):
        self._running.add(bytes(handle.goal_id.uuid))
        try:
            return self._run(handle)
        finally:
            self._running.discard(bytes(handle.goal_id.uuid))

    def _run(self, handle):
        result = FollowJointTrajectory.Result
        if self.outcome not in ("follow", "reject"):
            handle.abort()
            return result(error_code=getattr(result, self.outcome), error_string=f"stand-in JTC: {self.outcome}")
        while not handle.is_cancel_requested:
            if self._closed.wait(CONTROLLER_POLL_S):
                handle.abort()
                return result(error_code=result.INVALID_GOAL, error_string="stand-in shut down")
        handle.canceled()
        if bytes(handle.goal_id.uuid) in self._preempting:
            self.preempted += 1
            return result(error_code=result.INVALID_GOAL,
                          error_string="Current goal cancelled due to new incoming action.")
        return result()  # goal_cancelled_callback: an empty result

    def close(self) -> None:
        """End every executing goal (aborted), then the server: none is left running at exit."""
        self._closed.set()
        wait_for(lambda: not self._running, "the stand-in's executing goals to end")
        self._server.destroy()


class RobotStackStandIn:
    """What the robot's driver stack offers our nodes, in one test node."""

    def __init__(self, preset: RobotPreset, extra_joints: tuple[str, ...]) -> None:
        self.preset = preset
        self.gripper_goals: list[float] = []
        self.topic_commands: list[str] = []
        self.single_commands: dict[str, list[float]] = {}  # JointSingleCommand.cmd per topic
        self.robot_state = {joint: 0.0 for joint in preset.joints}  # what the driver reports, its units
        self.statuses: list[PolicyStatus] = []
        self.executed: list[JointTrajectory] = []
        self.spinner = SpinningNode("robot_stack_stand_in", threads=STAND_IN_THREADS)
        node = self.spinner.node
        node.create_publisher(String, "robot_description", LATCHED_QOS).publish(
            String(data=urdf_for(preset.joints)))
        self._state_pubs = [(s, node.create_publisher(JointState, s.topic, 10)) for s in preset.state_sources]
        self._extra = extra_joints
        self._image_pubs = [(c, node.create_publisher(Image, c.topic, SENSOR_QOS)) for c in preset.cameras]
        self._servers = []
        self.controllers: list[TrajectoryControllerStandIn] = []
        for group in preset.command_groups:
            if group.interface == "follow_joint_trajectory":
                self.controllers.append(TrajectoryControllerStandIn(node, group.target, group.names_on_robot))
            elif group.interface == "gripper_command":
                self._servers.append(ActionServer(node, GripperCommand, group.target, self._grip))
            elif group.interface == "interbotix_trajectory":
                node.create_subscription(JointTrajectoryCommand, group.target,
                                         lambda m, t=group.target: self.topic_commands.append(t), COMMAND_QOS)
            elif group.interface == "interbotix_single":
                node.create_subscription(JointSingleCommand, group.target,
                                         lambda m, t=group.target: self._single(t, m), COMMAND_QOS)
        node.create_subscription(PolicyStatus, "command_arbiter/status", self.statuses.append, LATCHED_QOS)
        node.create_subscription(JointTrajectory, preset.controller_topic, self.executed.append, COMMAND_QOS)
        node.create_timer(STATE_PERIOD_S, self._publish_states)
        node.create_timer(CAMERA_PERIOD_S, self._publish_images)

    def _grip(self, handle):
        self.gripper_goals.append(handle.request.command.position)
        handle.succeed()
        return GripperCommand.Result(position=handle.request.command.position, reached_goal=True)

    def _single(self, topic: str, msg: JointSingleCommand) -> None:
        self.topic_commands.append(topic)
        self.single_commands.setdefault(topic, []).append(msg.cmd)

    def _publish_states(self) -> None:
        stamp = self.spinner.node.get_clock().now().to_msg()
        for source, pub in self._state_pubs:
            joints = [j for j in self.preset.joints if j.startswith(source.prefix)]
            names = [j[len(source.prefix):] for j in joints] + list(self._extra)  # + joints not commanded
            positions = [self.robot_state[j] for j in joints] + [0.0] * len(self._extra)
            msg = JointState(name=names, position=positions, velocity=[0.0] * len(names))
            msg.header.stamp = stamp
            pub.publish(msg)

    def _publish_images(self) -> None:
        stamp = self.spinner.node.get_clock().now().to_msg()
        for camera, pub in self._image_pubs:
            msg = Image(height=camera.height, width=camera.width, encoding="rgb8", step=3 * camera.width,
                        data=bytes(3 * camera.width * camera.height))
            msg.header.stamp = stamp
            pub.publish(msg)

    def close(self) -> None:
        for controller in self.controllers:
            controller.close()
        for server in self._servers:
            server.destroy()
        self.spinner.close()


@pytest.mark.parametrize("robot", ["fr3", "ur", "aloha"])
def test_bringup_drives_the_robot_stack(robot, ros2_kit, tmp_path):
    preset = load_preset(robot)
    params = tmp_path / "tiny_policy.yaml"
    params.write_text("/**:\n  ros__parameters:\n    allow_random_init: true\n    random_init:\n"
                      f"      preset: {RANDOM_MODEL[robot]}\n")
    stand_in = RobotStackStandIn(preset, EXTRA_JOINTS[robot])
    launch = ros2_kit.launch(PACKAGE, "bringup.launch.py", f"robot:={robot}", f"params_file:={params}",
                             "instruction:=pick up the block")
    try:
        wait_for_state(ros2_kit, launch, "/policy_node", "active")
        assert param(ros2_kit, "/command_arbiter", "robot") == f"String value is: {robot}"
        assert param(ros2_kit, "/policy_node", "instruction") == "String value is: pick up the block"
        reply = set_policy_mode(ros2_kit)
        assert "success=True" in reply, reply
        # What is recorded (preset.controller_topic): the whole trajectory in the preset's names.
        wait_for(lambda: stand_in.executed, f"the executed trajectory on {preset.controller_topic}", LAUNCH_WAIT_S)
        assert list(stand_in.executed[-1].joint_names) == list(preset.joints)
        if robot == "aloha":
            targets = {g.target.lstrip("/") for g in preset.command_groups}
            wait_for(lambda: targets <= {t.lstrip("/") for t in stand_in.topic_commands},
                     f"commands on every interbotix topic {sorted(targets)}", LAUNCH_WAIT_S)
        else:
            controller = stand_in.controllers[0]
            wait_for(lambda: controller.accepted, "an accepted FollowJointTrajectory goal", LAUNCH_WAIT_S)
            arm = preset.command_groups[0]
            assert sorted(controller.accepted[0]) == sorted(arm.joints)  # no finger joint in it
            if robot == "fr3":
                wait_for(lambda: stand_in.gripper_goals, "a GripperCommand goal", LAUNCH_WAIT_S)
                assert all(math.isfinite(p) for p in stand_in.gripper_goals)
            controller.outcome = "reject"  # the controller now refuses: the arbiter must HOLD and say why
            wait_for(lambda: stand_in.statuses and stand_in.statuses[-1].mode == PolicyStatus.MODE_HOLD,
                     "HOLD after the controller's rejection", LAUNCH_WAIT_S)
            assert "rejected" in stand_in.statuses[-1].reason and arm.target in stand_in.statuses[-1].reason
    finally:
        stand_in.close()
        code, output = ros2_kit.stop_launch(launch)
    assert code == 0, output[-4000:]


def _teleop_move(offset_rad: float) -> JointTrajectory:
    """A short teleop move of the UR's first joint from its rest pose (stamp 0 = now)."""
    joints = load_preset("ur").joints
    return JointTrajectory(joint_names=list(joints), points=[
        JointTrajectoryPoint(positions=[offset_rad * k] + [0.0] * (len(joints) - 1),
                             time_from_start=seconds_to_duration(0.5 * k)) for k in (1, 2)])


@pytest.mark.parametrize("outcome", ["reject", "PATH_TOLERANCE_VIOLATED", "GOAL_TOLERANCE_VIOLATED",
                                     "INVALID_JOINTS", "OLD_HEADER_TIMESTAMP", "canceled"])
def test_follow_joint_trajectory_failures_hold_with_the_reason(outcome, ros_domain):
    """The arbiter on the UR preset (one FollowJointTrajectory group) streams teleop moves to a JTC
    stand-in: its own goals preempted by newer ones are no failure; then the controller rejects,
    aborts with ``outcome``'s error code, or someone cancels the running goal: HOLD, the reason in
    ~/status."""
    preset = load_preset("ur")
    stand_in = RobotStackStandIn(preset, EXTRA_JOINTS["ur"])
    controller = stand_in.controllers[0]
    node = stand_in.spinner.node
    teleop = node.create_publisher(JointTrajectory, preset.teleop_topic, COMMAND_QOS)
    cancel_all = node.create_client(CancelGoal, f"{controller.action}/_action/cancel_goal")
    arbiter = start_node_process("cosmos_policy_ros.ros.command_arbiter", ros_domain.env(),
                                 {"robot": "ur", "start_mode": "teleop"})
    try:
        wait_for(lambda: stand_in.statuses and stand_in.statuses[-1].mode == PolicyStatus.MODE_TELEOP
                 and teleop.get_subscription_count() > 0
                 and node.count_clients(f"{controller.action}/_action/send_goal") > 0,
                 "the arbiter in TELEOP, matched to our teleop topic and the controller's action")
        statuses = stand_in.statuses
        while not controller.accepted:  # the arbiter refuses moves until the first joint state arrived
            rejected = statuses[-1].rejected_inputs
            teleop.publish(_teleop_move(0.02))
            wait_for(lambda: controller.accepted or statuses[-1].rejected_inputs > rejected, "goal 1 accepted")
            assert controller.accepted or "no joint state received yet" in statuses[-1].reason, statuses[-1].reason
        for n in range(2, 5):  # each move replaces the last: goals 1..3 are preempted by their successors
            teleop.publish(_teleop_move(0.02 * n))
            wait_for(lambda: len(controller.accepted) >= n, f"goal {n} accepted")
        wait_for(lambda: controller.preempted >= 3, "goals 1..3 preempted (canceled for the newer goal)")
        assert all(s.mode == PolicyStatus.MODE_TELEOP for s in stand_in.statuses), \
            [s.reason for s in stand_in.statuses]
        if outcome == "canceled":  # e.g. an operator's `ros2 action` client cancels every goal
            stand_in.spinner.call(cancel_all, CancelGoal.Request())
        else:
            controller.outcome = outcome
            teleop.publish(_teleop_move(0.1))
        wait_for(lambda: stand_in.statuses[-1].mode == PolicyStatus.MODE_HOLD, f"HOLD after {outcome}")
        reason = stand_in.statuses[-1].reason
        if outcome in ("reject", "canceled"):
            expected = {"reject": "rejected the trajectory goal", "canceled": "canceled the trajectory goal"}[outcome]
        else:
            code = getattr(FollowJointTrajectory.Result, outcome)
            expected = f"aborted the trajectory goal: {outcome} ({code}): stand-in JTC: {outcome}"
        assert reason.startswith(f"controller arm: {preset.command_groups[0].target} "), reason
        assert expected in reason, reason
    finally:
        output = stop_process(arbiter)
        stand_in.close()
    assert arbiter.returncode == 0, output[-3000:]


def test_aloha_grippers_in_policy_units_and_the_drivers(ros_domain):
    """Trossen's driver reports and takes its gripper motor angle; the policy, the arbiter and the
    recording see 0 = closed .. 1 = open (config/robots/aloha.yaml joint_units, from Interbotix/aloha).
    Both grippers report closed (0.6197 rad); a teleop move opens the left one (policy 1.0)."""
    preset = load_preset("aloha")
    closed, opened = (preset.joint_units["left_gripper"].to_robot(v) for v in (0.0, 1.0))
    stand_in = RobotStackStandIn(preset, EXTRA_JOINTS["aloha"])
    stand_in.robot_state.update(left_gripper=closed, right_gripper=closed)
    node, statuses = stand_in.spinner.node, stand_in.statuses
    teleop = node.create_publisher(JointTrajectory, preset.teleop_topic, COMMAND_QOS)
    steps = 10  # the gripper opens over 1 s (within max_joint_jump_rad per step)
    move = JointTrajectory(joint_names=list(preset.joints), points=[
        JointTrajectoryPoint(positions=[k / steps if j == "left_gripper" else 0.0 for j in preset.joints],
                             time_from_start=seconds_to_duration(0.1 * k)) for k in range(1, steps + 1)])
    arbiter = start_node_process("cosmos_policy_ros.ros.command_arbiter", ros_domain.env(),
                                 {"robot": "aloha", "start_mode": "teleop"})
    left, right = (g.target for g in preset.command_groups if g.name in ("left_gripper", "right_gripper"))
    try:
        wait_for(lambda: statuses and statuses[-1].mode == PolicyStatus.MODE_TELEOP
                 and teleop.get_subscription_count() > 0, "the arbiter in TELEOP, matched to our teleop topic")
        while not stand_in.executed:  # the arbiter refuses moves until both arms' states arrived
            rejected = statuses[-1].rejected_inputs
            teleop.publish(move)
            wait_for(lambda: stand_in.executed or statuses[-1].rejected_inputs > rejected, "the move executed")
            assert stand_in.executed or "no joint state received yet" in statuses[-1].reason, statuses[-1].reason
        wait_for(lambda: left in stand_in.single_commands and right in stand_in.single_commands,
                 "both grippers commanded")
        assert stand_in.single_commands[left][-1] == pytest.approx(opened)
        assert stand_in.single_commands[right][-1] == pytest.approx(closed)
        executed = stand_in.executed[-1]  # the recorded trajectory, in policy units
        column = list(executed.joint_names).index("left_gripper")
        assert executed.points[0].positions[column] == pytest.approx(0.0, abs=1e-6)  # seam: the measured state
        assert executed.points[-1].positions[column] == pytest.approx(1.0)
        assert statuses[-1].mode == PolicyStatus.MODE_TELEOP, statuses[-1].reason
    finally:
        output = stop_process(arbiter)
        stand_in.close()
    assert arbiter.returncode == 0, output[-3000:]
