# SPDX-License-Identifier: Apache-2.0
"""Action spaces -> absolute joint targets, including an IK round trip on the sim arm URDF."""
from __future__ import annotations

import numpy as np
import pytest
from transforms3d.axangles import mat2axangle

from cosmos_policy_ros.control.action_spaces import EE_DELTA_NAMES, ActionSpaceConverter, joint_deltas_to_positions
from cosmos_policy_ros.control.kinematics import EndEffectorKinematics, IkConfig
from cosmos_policy_ros.presets import load_preset

PRESET = load_preset("sim_arm")
ARM = [j for j in PRESET.joints if j not in PRESET.gripper_joints]
# A bent, non-singular configuration of the sim arm [rad].
HOME = np.array([0.2, 0.4, 0.9, 0.5, -0.3, 0.1])
GRIPPER_RANGE = (0.04, 0.0)  # ee_delta gripper -1 (open) / +1 (closed) in metres


@pytest.fixture(scope="module")
def kinematics() -> EndEffectorKinematics:
    urdf = PRESET.urdf_path.read_text()
    return EndEffectorKinematics(urdf, ARM, IkConfig(ee_link="tool_link", translation_scale_m=1.0,
                                                     rotation_scale_rad=1.0))


def test_joint_deltas_cumulative_from_observation_state():
    deltas = np.array([[0.1, 0.0], [0.1, -0.2], [0.0, 0.1]])
    np.testing.assert_allclose(joint_deltas_to_positions(deltas, np.array([1.0, 2.0])),
                               [[1.1, 2.0], [1.2, 1.8], [1.2, 1.9]])
    with pytest.raises(ValueError, match="shape"):
        joint_deltas_to_positions(deltas, np.zeros(3))


def test_joint_position_and_delta_converters():
    state = np.linspace(0, 0.6, 7)
    actions = np.full((4, 7), 0.01)
    absolute = ActionSpaceConverter("joint_position", PRESET.joints)
    np.testing.assert_array_equal(absolute.to_joint_positions(actions, state), actions)
    delta = ActionSpaceConverter("joint_delta", PRESET.joints)
    np.testing.assert_allclose(delta.to_joint_positions(actions, state)[-1], state + 0.04)
    assert delta.action_names == PRESET.joints
    with pytest.raises(ValueError, match="action_space"):
        ActionSpaceConverter("torque", PRESET.joints)
    with pytest.raises(ValueError, match="needs kinematics"):
        ActionSpaceConverter("ee_delta", PRESET.joints)


def test_forward_kinematics_reaches_expected_height(kinematics):
    position, rotation = kinematics.forward(np.zeros(6))  # straight up
    assert position[0] == pytest.approx(0.0, abs=1e-9) and position[2] > 0.7
    np.testing.assert_allclose(rotation, np.eye(3), atol=1e-9)


def test_ik_round_trip(kinematics):
    rng = np.random.default_rng(0)
    for _ in range(5):
        goal = HOME + rng.uniform(-0.3, 0.3, size=6)
        target_pos, target_quat = kinematics.forward_quaternion(goal)
        q, err_m, err_rad = kinematics.solve(target_pos, target_quat, HOME)
        assert err_m < 1e-3 and err_rad < 1e-2
        pos, rot = kinematics.forward(q)
        np.testing.assert_allclose(pos, target_pos, atol=1e-3)


def test_ee_delta_chunk_moves_end_effector_as_commanded(kinematics):
    converter = ActionSpaceConverter("ee_delta", PRESET.joints, PRESET.gripper_joints, kinematics, GRIPPER_RANGE)
    assert converter.action_names == EE_DELTA_NAMES
    state = np.concatenate([HOME, [0.02]])
    steps = np.zeros((4, 7))
    steps[:, 0] = 0.01  # +1 cm along x per step
    steps[:, 5] = 0.05  # +0.05 rad about z per step
    steps[:, 6] = [-1.0, -1.0, 1.0, 0.0]  # open, open, closed, half
    targets = converter.to_joint_positions(steps, state)
    start_pos, start_rot = kinematics.forward(HOME)
    end_pos, end_rot = kinematics.forward(targets[-1, :6])
    np.testing.assert_allclose(end_pos - start_pos, [0.04, 0.0, 0.0], atol=1e-3)
    axis, angle = mat2axangle(end_rot @ start_rot.T)
    assert angle * axis[2] == pytest.approx(0.2, abs=1e-2)
    np.testing.assert_allclose(targets[:, 6], [0.04, 0.04, 0.0, 0.02])


def test_ee_delta_unreachable_or_nan_rejected(kinematics):
    converter = ActionSpaceConverter("ee_delta", PRESET.joints, PRESET.gripper_joints, kinematics, GRIPPER_RANGE)
    state = np.concatenate([HOME, [0.0]])
    far = np.zeros((1, 7))
    far[0, 0] = 5.0  # 5 m: outside the 0.7 m reach
    with pytest.raises(ValueError, match="unreachable"):
        converter.to_joint_positions(far, state)
    with pytest.raises(ValueError, match="non-finite"):
        converter.to_joint_positions(np.full((1, 7), np.nan), state)


def test_bad_ik_config_and_link():
    with pytest.raises(ValueError, match="damping"):
        IkConfig(ee_link="tool_link", damping=0.0)
    urdf = '<robot name="r"><link name="a"/></robot>'
    with pytest.raises(ValueError, match="ee_link"):
        EndEffectorKinematics(urdf, [], IkConfig(ee_link="nope"))
