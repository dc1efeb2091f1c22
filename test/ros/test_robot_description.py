# SPDX-License-Identifier: Apache-2.0
"""command_arbiter takes its limits from the robot_description topic when no URDF file is named.

Presets for real robots (fr3, ur, aloha) ship no URDF: the robot's own robot_state_publisher
offers it on ``robot_description`` (std_msgs/String, reliable, transient local). Without either,
the node stops with an error that names what is missing (it used to crash on the share folder).
"""
from __future__ import annotations

import pytest

pytest.importorskip("rclpy", reason="needs the ROS 2 Python wheels")

from std_msgs.msg import String  # noqa: E402

from cosmos_policy_msgs.msg import PolicyStatus  # noqa: E402
from cosmos_policy_ros.presets import load_preset  # noqa: E402
from cosmos_policy_ros.ros.qos import LATCHED_QOS  # noqa: E402

from ros_helpers import SpinningNode, start_node_process, stop_process, urdf_for, wait_for  # noqa: E402

pytestmark = pytest.mark.ros
ARBITER = "cosmos_policy_ros.ros.command_arbiter"


def test_limits_come_from_the_latched_robot_description(ros_domain):
    preset = load_preset("aloha")
    assert not preset.urdf
    spinner = SpinningNode("robot_state_publisher_stand_in")
    statuses: list[PolicyStatus] = []
    spinner.node.create_publisher(String, "robot_description", LATCHED_QOS).publish(
        String(data=urdf_for(preset.joints)))  # published before the arbiter exists: latched
    spinner.node.create_subscription(PolicyStatus, "command_arbiter/status", statuses.append, LATCHED_QOS)
    proc = start_node_process(ARBITER, ros_domain.env(), {"robot": "aloha"})
    try:
        wait_for(lambda: statuses or proc.poll() is not None, "the arbiter's status")
        assert proc.poll() is None
        assert statuses[-1].mode == PolicyStatus.MODE_HOLD
    finally:
        spinner.close()
        output = stop_process(proc)
    assert proc.returncode == 0, output
    assert "waiting for the robot description on /robot_description" in output


def test_no_urdf_and_no_robot_description_is_a_clear_error(ros_domain):
    proc = start_node_process(ARBITER, ros_domain.env(), {"robot": "aloha",
                                                         "limits.robot_description_timeout_s": "0.5"})
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode != 0
    assert "IsADirectoryError" not in output
    assert "no joint limits for preset 'aloha'" in output and "/robot_description" in output
    assert "limits.urdf_path" in output
