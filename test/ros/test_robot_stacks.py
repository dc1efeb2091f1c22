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

from control_msgs.action import FollowJointTrajectory, GripperCommand  # noqa: E402
from interbotix_xs_msgs.msg import JointSingleCommand, JointTrajectoryCommand  # noqa: E402
from rclpy.action import ActionServer, GoalResponse  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from cosmos_policy_msgs.msg import PolicyStatus  # noqa: E402
from cosmos_policy_ros.presets import RobotPreset, load_preset  # noqa: E402
from cosmos_policy_ros.ros.graph import PACKAGE  # noqa: E402
from cosmos_policy_ros.ros.qos import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS  # noqa: E402

from ros_helpers import SpinningNode, urdf_for, wait_for  # noqa: E402
from test_launch_kit import LAUNCH_WAIT_S, param, set_policy_mode, wait_for_state  # noqa: E402

pytestmark = pytest.mark.ros
STATE_PERIOD_S = 0.02
CAMERA_PERIOD_S = 0.1
# The tiny model's latent frame holds 256 action values; ALOHA's 50 x 14 chunk needs demo-small's.
RANDOM_MODEL = {"fr3": "tiny", "ur": "tiny", "aloha": "demo-small"}
EXTRA_JOINTS = {"fr3": ("fr3_finger_joint2",), "ur": (), "aloha": ("left_finger", "right_finger")}


class RobotStackStandIn:
    """What the robot's driver stack offers our nodes, in one test node."""

    def __init__(self, preset: RobotPreset, extra_joints: tuple[str, ...]) -> None:
        self.preset, self.reject_all = preset, False
        self.trajectory_goals: list[list[str]] = []
        self.gripper_goals: list[float] = []
        self.topic_commands: list[str] = []
        self.statuses: list[PolicyStatus] = []
        self.executed: list[JointTrajectory] = []
        self.spinner = SpinningNode("robot_stack_stand_in")
        node = self.spinner.node
        node.create_publisher(String, "robot_description", LATCHED_QOS).publish(
            String(data=urdf_for(preset.joints)))
        self._state_pubs = [(s, node.create_publisher(JointState, s.topic, 10)) for s in preset.state_sources]
        self._extra = extra_joints
        self._image_pubs = [(c, node.create_publisher(Image, c.topic, SENSOR_QOS)) for c in preset.cameras]
        self._servers = []
        for group in preset.command_groups:
            if group.interface == "follow_joint_trajectory":
                self._servers.append(ActionServer(
                    node, FollowJointTrajectory, group.target, self._succeed,
                    goal_callback=lambda goal, g=group: self._check_joints(goal, g.names_on_robot)))
            elif group.interface == "gripper_command":
                self._servers.append(ActionServer(node, GripperCommand, group.target, self._grip))
            elif group.interface == "interbotix_trajectory":
                node.create_subscription(JointTrajectoryCommand, group.target,
                                         lambda m, t=group.target: self.topic_commands.append(t), COMMAND_QOS)
            elif group.interface == "interbotix_single":
                node.create_subscription(JointSingleCommand, group.target,
                                         lambda m, t=group.target: self.topic_commands.append(t), COMMAND_QOS)
        node.create_subscription(PolicyStatus, "command_arbiter/status", self.statuses.append, LATCHED_QOS)
        node.create_subscription(JointTrajectory, preset.controller_topic, self.executed.append, COMMAND_QOS)
        node.create_timer(STATE_PERIOD_S, self._publish_states)
        node.create_timer(CAMERA_PERIOD_S, self._publish_images)

    def _check_joints(self, goal, controller_joints: tuple[str, ...]) -> GoalResponse:
        """JTC's goal_received_callback: the goal's joints must be the controller's joints."""
        names = list(goal.trajectory.joint_names)
        if self.reject_all or sorted(names) != sorted(controller_joints):
            return GoalResponse.REJECT
        self.trajectory_goals.append(names)
        return GoalResponse.ACCEPT

    def _succeed(self, handle):
        handle.succeed()
        return FollowJointTrajectory.Result(error_code=FollowJointTrajectory.Result.SUCCESSFUL)

    def _grip(self, handle):
        self.gripper_goals.append(handle.request.command.position)
        handle.succeed()
        return GripperCommand.Result(position=handle.request.command.position, reached_goal=True)

    def _publish_states(self) -> None:
        stamp = self.spinner.node.get_clock().now().to_msg()
        for source, pub in self._state_pubs:
            names = [j[len(source.prefix):] for j in self.preset.joints if j.startswith(source.prefix)]
            names += list(self._extra)  # joints the preset does not command (fingers)
            msg = JointState(name=names, position=[0.0] * len(names), velocity=[0.0] * len(names))
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
            wait_for(lambda: stand_in.trajectory_goals, "an accepted FollowJointTrajectory goal", LAUNCH_WAIT_S)
            arm = preset.command_groups[0]
            assert sorted(stand_in.trajectory_goals[0]) == sorted(arm.joints)  # no finger joint in it
            if robot == "fr3":
                wait_for(lambda: stand_in.gripper_goals, "a GripperCommand goal", LAUNCH_WAIT_S)
                assert all(math.isfinite(p) for p in stand_in.gripper_goals)
            stand_in.reject_all = True  # the controller now refuses: the arbiter must HOLD and say why
            wait_for(lambda: stand_in.statuses and stand_in.statuses[-1].mode == PolicyStatus.MODE_HOLD,
                     "HOLD after the controller's rejection", LAUNCH_WAIT_S)
            assert "rejected" in stand_in.statuses[-1].reason and arm.target in stand_in.statuses[-1].reason
    finally:
        stand_in.close()
        code, output = ros2_kit.stop_launch(launch)
    assert code == 0, output[-4000:]
