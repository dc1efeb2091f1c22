# SPDX-License-Identifier: Apache-2.0
"""`ros2 launch` for real (ros2cli-kit): every launch argument reaches the nodes, sim_demo headless.

Needs the real ``ros2`` CLI in the venv (``../shared/vendor/ros2cli-kit/install.sh``); without it
these tests skip with that reason. The package is colcon-built into a temporary prefix, as the
kit's README says, and ``ros2 launch`` is stopped with SIGINT only (SIGTERM orphans its nodes).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("rclpy", reason="needs the ROS 2 Python wheels")
pytest.importorskip("launch_ros", reason="needs ros2cli-kit (ros2 launch) in the venv")

from std_msgs.msg import String  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from cosmos_policy_ros.presets import load_preset  # noqa: E402
from cosmos_policy_ros.ros.qos import COMMAND_QOS, LATCHED_QOS  # noqa: E402

from ros2_launch import LAUNCH_WAIT_S, Launch, build_prefix, require_kit  # noqa: E402
from ros_helpers import SpinningNode, urdf_for, wait_for  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def prefix(tmp_path_factory) -> Path:
    require_kit()
    return build_prefix(tmp_path_factory.mktemp("colcon"))


def test_bringup_arguments_reach_every_node_under_a_namespace(prefix, ros_domain, tmp_path):
    """robot/checkpoint/... as launch arguments, a user params_file below them, under namespace lab."""
    preset = load_preset("aloha")
    mine = tmp_path / "mine.yaml"
    mine.write_text("/**:\n  ros__parameters:\n    device: cuda:7\n    seed: 5\n")
    stand_in = SpinningNode("robot_state_publisher_stand_in")
    stand_in.node.create_publisher(String, "/lab/robot_description", LATCHED_QOS).publish(
        String(data=urdf_for(preset.joints)))
    launch = Launch(prefix, ros_domain.env(), tmp_path / "launch.log", "bringup.launch.py", robot="aloha",
                    namespace="lab", checkpoint="/ckpt/policy", planning_checkpoint="/ckpt/plan",
                    instruction="fold the shirt", dtype="bfloat16", params_file=str(mine), autostart="false",
                    use_sim_time="false")
    try:
        launch.wait_for_log("unconfigured (autostart false)")
        launch.wait_for_log("command_arbiter: robot aloha")
        expected = {"robot": "aloha", "checkpoint": "/ckpt/policy", "instruction": "fold the shirt",
                    "dtype": "bfloat16", "device": "cuda:7"}
        for name, value in expected.items():
            assert launch.param("/lab/policy_node", name) == f"String value is: {value}", name
        assert launch.param("/lab/policy_node", "seed") == "Integer value is: 5"
        assert launch.param("/lab/policy_node", "autostart") == "Boolean value is: False"
        assert launch.param("/lab/command_arbiter", "robot") == "String value is: aloha"
        assert launch.param("/lab/command_arbiter", "use_sim_time") == "Boolean value is: False"
        assert "unconfigured" in launch.ros2("lifecycle", "get", "--no-daemon", "--spin-time", "5",
                                             "/lab/policy_node")
    finally:
        stand_in.close()
        output = launch.stop()
    assert launch.proc.returncode == 0, output


def test_sim_demo_runs_headless_on_the_shipped_demo(prefix, ros_domain, tmp_path, monkeypatch):
    """No MUJOCO_GL, no checkpoint: the launch picks EGL and the demo model; POLICY moves the arm."""
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    env = {k: v for k, v in ros_domain.env().items() if k != "MUJOCO_GL"}
    commands: list[JointTrajectory] = []
    probe = SpinningNode("controller_probe")
    probe.node.create_subscription(JointTrajectory, "/arm_controller/joint_trajectory", commands.append, COMMAND_QOS)
    launch = Launch(prefix, env, tmp_path / "launch.log", "sim_demo.launch.py", instruction="touch the red block",
                    expert="false")
    try:
        launch.wait_for_log("active (warm-up")
        assert "active" in launch.ros2("lifecycle", "get", "--no-daemon", "--spin-time", "5", "/policy_node")
        checkpoint = launch.param("/policy_node", "checkpoint")
        assert checkpoint.endswith("checkpoints/demo_reach") and "model.safetensors" in os.listdir(
            checkpoint.split(": ", 1)[1])
        reply = launch.ros2("service", "call", "/command_arbiter/set_mode", "cosmos_policy_msgs/srv/SetMode",
                            "{mode: 1, reason: acceptance}")
        assert "success=True" in reply, reply
        wait_for(lambda: len(commands) >= 2, "policy trajectories to the controller", LAUNCH_WAIT_S)
    finally:
        probe.close()
        output = launch.stop()
    assert launch.proc.returncode == 0, output
