# SPDX-License-Identifier: Apache-2.0
"""`ros2 launch` for real (ros2cli kit): every launch argument reaches the nodes, sim_demo headless.

Uses the ``ros2_kit`` fixture (test/ros2_kit.py): the package colcon-built into a prefix, ``ros2
launch`` stopped with SIGINT, verbs without a daemon. Without the kit these tests skip with the reason.
"""
from __future__ import annotations

import os

import pytest
import yaml

pytest.importorskip("rclpy", reason="needs the ROS 2 Python wheels")

from std_msgs.msg import String  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from cosmos_policy_ros.presets import load_preset  # noqa: E402
from cosmos_policy_ros.ros.graph import PACKAGE  # noqa: E402
from cosmos_policy_ros.ros.qos import COMMAND_QOS, LATCHED_QOS  # noqa: E402

from ros_helpers import SpinningNode, urdf_for, wait_for  # noqa: E402

pytestmark = pytest.mark.ros
LAUNCH_WAIT_S = 240.0


def lifecycle_state(ros2_kit, node: str) -> str:
    return ros2_kit.ros2("lifecycle", "get", node, check=False).stdout.strip()


def wait_for_state(ros2_kit, launch, node: str, state: str) -> None:
    """Poll ``ros2 lifecycle get`` until ``node`` reports ``state`` (launch must keep running)."""
    def reached() -> bool:
        assert launch.poll() is None, f"ros2 launch exited {launch.returncode}"
        return lifecycle_state(ros2_kit, node).startswith(state)
    wait_for(reached, f"{node} {state}", LAUNCH_WAIT_S)


def param(ros2_kit, node: str, name: str) -> str:
    return ros2_kit.ros2_until_ok("param", "get", node, name).stdout.strip()


def params(ros2_kit, node: str) -> dict:
    """Every parameter of ``node``, as ``ros2 param dump`` prints them: one CLI run per node (each run
    spins --spin-time 3 s for discovery; one `ros2 param get` per parameter cost a minute here)."""
    return yaml.safe_load(ros2_kit.ros2_until_ok("param", "dump", node).stdout)[node]["ros__parameters"]


def set_policy_mode(ros2_kit, node: str = "/command_arbiter") -> str:
    return ros2_kit.ros2("service", "call", f"{node}/set_mode", "cosmos_policy_msgs/srv/SetMode",
                         "{mode: 1, reason: acceptance}", no_daemon=False).stdout


# Every bringup launch argument (graph_launch.LAUNCH_ARGUMENTS) with a value unlike its default and
# where `ros2 param get` shows it arrived: (node, parameter, expected answer). namespace: every node
# is answered under /lab; params_file: its seed arrives, its device loses to the device argument;
# expert (sim_demo only): test_sim_demo_runs_headless_on_the_shipped_demo.
NAMESPACE = "lab"
ARGUMENTS = {"robot": "aloha", "checkpoint": "/ckpt/policy", "planning_checkpoint": "/ckpt/plan",
             "instruction": "fold the shirt", "device": "cuda:3", "dtype": "bfloat16", "autostart": "false",
             "namespace": NAMESPACE, "use_sim_time": "true", "params_file": None}
ARRIVED = {
    "robot": [("policy_node", "robot", "aloha"), ("command_arbiter", "robot", "aloha")],
    "checkpoint": [("policy_node", "checkpoint", "/ckpt/policy")],
    "planning_checkpoint": [("policy_node", "planning_checkpoint", "/ckpt/plan")],
    "instruction": [("policy_node", "instruction", "fold the shirt")],
    "device": [("policy_node", "device", "cuda:3")],
    "dtype": [("policy_node", "dtype", "bfloat16")],
    "autostart": [("policy_node", "autostart", False)],
    "use_sim_time": [("policy_node", "use_sim_time", True), ("command_arbiter", "use_sim_time", True)],
    "params_file": [("policy_node", "seed", 5), ("command_arbiter", "status_period_s", 2.5)],
}


def test_bringup_arguments_reach_every_node_under_a_namespace(ros2_kit, tmp_path):
    """Every launch argument, a user params_file below them, under namespace lab: `ros2 param get`."""
    from cosmos_policy_ros.ros.graph_launch import LAUNCH_ARGUMENTS  # launch comes with the kit

    assert set(ARGUMENTS) | {"expert"} == {name for name, _, _ in LAUNCH_ARGUMENTS}  # none forgotten
    assert set(ARRIVED) | {"namespace"} == set(ARGUMENTS)
    preset = load_preset("aloha")
    mine = tmp_path / "mine.yaml"
    mine.write_text("/**:\n  ros__parameters:\n    device: cuda:7\n    seed: 5\n    status_period_s: 2.5\n")
    stand_in = SpinningNode("robot_state_publisher_stand_in")
    stand_in.node.create_publisher(String, f"/{NAMESPACE}/robot_description", LATCHED_QOS).publish(
        String(data=urdf_for(preset.joints)))
    arguments = {name: str(mine) if name == "params_file" else value for name, value in ARGUMENTS.items()}
    launch = ros2_kit.launch(PACKAGE, "bringup.launch.py", *(f"{k}:={v}" for k, v in arguments.items()))
    try:
        wait_for_state(ros2_kit, launch, f"/{NAMESPACE}/policy_node", "unconfigured")
        answered = {node: params(ros2_kit, f"/{NAMESPACE}/{node}") for node in ("policy_node", "command_arbiter")}
        for argument, checks in ARRIVED.items():
            for node, name, expected in checks:
                got = answered[node].get(name)
                assert got == expected and type(got) is type(expected), (argument, node, name, got)
    finally:
        stand_in.close()
        code, output = ros2_kit.stop_launch(launch)
    assert code == 0, output[-4000:]
    assert "unconfigured (autostart false)" in output


def test_sim_demo_runs_headless_on_the_shipped_demo(ros2_kit):
    """No MUJOCO_GL, no checkpoint: the launch picks EGL and the demo model; POLICY moves the arm."""
    ros2_kit.env.pop("MUJOCO_GL", None)
    commands: list[JointTrajectory] = []
    probe = SpinningNode("controller_probe")
    probe.node.create_subscription(JointTrajectory, "/arm_controller/joint_trajectory", commands.append, COMMAND_QOS)
    launch = ros2_kit.launch(PACKAGE, "sim_demo.launch.py", "instruction:=touch the red block", "expert:=false")
    failure: AssertionError | None = None
    try:
        wait_for_state(ros2_kit, launch, "/policy_node", "active")
        def nodes() -> set[str]:
            return set(ros2_kit.ros2_until_ok("node", "list").stdout.split())
        # a fresh CLI node may list a participant before its node names arrived: wait for them
        wait_for(lambda: {"/policy_node", "/command_arbiter", "/sim_arm"} <= nodes(), "the demo's nodes listed",
                 LAUNCH_WAIT_S)
        assert "/expert_teleop" not in nodes()
        checkpoint = param(ros2_kit, "/policy_node", "checkpoint").split(": ", 1)[1]
        assert checkpoint.endswith("checkpoints/demo_reach") and "model.safetensors" in os.listdir(checkpoint)
        reply = set_policy_mode(ros2_kit)
        assert "success=True" in reply, reply
        wait_for(lambda: len(commands) >= 2, "policy trajectories to the controller", LAUNCH_WAIT_S)
    except AssertionError as error:
        failure = error
    finally:
        probe.close()
        code, output = ros2_kit.stop_launch(launch)
    # the nodes' own account (mode changes, rejections, what policy_node waits for) with any failure
    assert failure is None, f"{failure}; {len(commands)} trajectories seen; the launch's output:\n{output[-6000:]}"
    assert code == 0, output[-4000:]
