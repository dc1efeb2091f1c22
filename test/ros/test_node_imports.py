# SPDX-License-Identifier: Apache-2.0
"""The nodes load a physics engine only when a robot's action space needs IK (issue 20).

Checked in a fresh interpreter (this test process has long imported MuJoCo for other tests).
"""
from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("rclpy", reason="the node modules need the ROS 2 Python wheels")

PROBE = """
import dataclasses, sys
import cosmos_policy_ros.ros.command_arbiter, cosmos_policy_ros.ros.policy_node
from cosmos_policy_ros.control.arbitration import Arbiter
from cosmos_policy_ros.presets import load_preset
print("after node imports:", "mujoco" in sys.modules)
preset = load_preset("sim_arm")
urdf = preset.urdf_path.read_text(encoding="utf-8")
Arbiter.from_settings(preset, urdf)
print("joint_position arbiter:", "mujoco" in sys.modules)
Arbiter.from_settings(dataclasses.replace(preset, action_space="ee_delta"), urdf)
print("ee_delta arbiter:", "mujoco" in sys.modules)
"""


def test_mujoco_is_imported_only_for_an_action_space_with_ik() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == ["after node imports: False", "joint_position arbiter: False",
                                          "ee_delta arbiter: True"], result.stdout + result.stderr
