# SPDX-License-Identifier: Apache-2.0
"""Candidate end-effector paths: ikpy's forward kinematics of the URDF against MuJoCo's (sim arm)."""
from __future__ import annotations

import numpy as np
import pytest

from cosmos_policy_ros.control.candidate_paths import EndEffectorPaths, chain_elements, read_joints
from cosmos_policy_ros.presets import load_preset
from cosmos_policy_ros.sim.kinematics import ArmKinematics

PRESET = load_preset("sim_arm")
ARM = [j for j in PRESET.joints if j not in PRESET.gripper_joints]


def test_paths_match_mujoco_forward_kinematics() -> None:
    paths = EndEffectorPaths(PRESET.urdf_path, PRESET.joints, ARM)
    assert (paths.root_link, paths.tip_link) == ("world", "tool_link")  # default tip through the fixed tool joint
    rng = np.random.RandomState(0)
    chunks = rng.uniform(-1.2, 1.2, (3, 5, len(PRESET.joints)))
    positions = paths.positions(chunks)
    mujoco_fk = ArmKinematics(PRESET.urdf_path)
    expected = np.array([[mujoco_fk.forward(step[:len(ARM)]).position for step in chunk] for chunk in chunks])
    assert positions.shape == (3, 5, 3)
    np.testing.assert_allclose(positions, expected, atol=1e-9)


def test_chain_and_errors() -> None:
    joints = read_joints(PRESET.urdf_path.read_text())
    assert chain_elements(joints, "hand_link")[:4] == ["world", "world_to_base", "base_link", "shoulder_pan_joint"]
    with pytest.raises(ValueError, match="nowhere"):
        chain_elements(joints, "nowhere")
    with pytest.raises(ValueError, match="not in the robot description"):
        EndEffectorPaths(PRESET.urdf_path, PRESET.joints, ["left_waist"])
