# SPDX-License-Identifier: Apache-2.0
"""``Arbiter.from_settings``: the one way the arbiter is built from a robot preset and its URDF."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from cosmos_policy_ros.control.arbitration import Arbiter
from cosmos_policy_ros.control.limits import LimitSettings
from cosmos_policy_ros.control.stitching import StitchConfig
from cosmos_policy_ros.presets import load_preset

PRESET = load_preset("sim_arm")
URDF = PRESET.urdf_path.read_text(encoding="utf-8")
URDF_VELOCITY = {"shoulder_pan_joint": 2.0, "elbow_joint": 2.5, "wrist_3_joint": 3.0}


def test_limits_come_from_the_urdf_tightened_by_the_settings():
    arbiter = Arbiter.from_settings(PRESET, URDF, LimitSettings(acceleration=(7.0,), velocity_scale=0.5))
    limits = arbiter.config.limits
    assert limits.joint_names == PRESET.joints
    for joint, velocity in URDF_VELOCITY.items():
        col = PRESET.joints.index(joint)
        assert limits.velocity[col] == pytest.approx(0.5 * velocity) and limits.acceleration[col] == 7.0
    gripper = PRESET.joints.index("gripper_joint")
    assert (limits.lower[gripper], limits.upper[gripper]) == (0.0, 0.04)  # positions always checked
    assert math.isinf(limits.velocity[gripper]) and math.isinf(limits.acceleration[gripper])
    checked = Arbiter.from_settings(PRESET, URDF, LimitSettings(check_gripper_rates=True)).config.limits
    assert checked.velocity[gripper] == pytest.approx(0.1)
    assert arbiter.config.max_start_jump == PRESET.max_joint_jump_rad


def test_other_settings_reach_the_config_and_unknown_ones_are_named():
    arbiter = Arbiter.from_settings(PRESET, URDF, stitch=StitchConfig(min_seam_s=0.2), value_threshold=0.3)
    assert arbiter.config.stitch.min_seam_s == 0.2 and arbiter.config.value_threshold == 0.3
    with pytest.raises(ValueError, match="max_start_jump"):
        Arbiter.from_settings(PRESET, URDF, max_start_jump=1.0)  # the preset's, not a setting
    with pytest.raises(ValueError, match="acceleration has 2 values"):
        Arbiter.from_settings(PRESET, URDF, LimitSettings(acceleration=(1.0, 2.0)))


def test_ee_delta_gripper_convention_minus_one_is_open():
    """ee_delta's gripper column: -1 = open = the joint's upper bound, +1 = closed = its lower bound."""
    preset = dataclasses.replace(PRESET, action_space="ee_delta")
    arbiter = Arbiter.from_settings(preset, URDF)
    state = np.array([0.0, -0.5, 1.0, 0.5, 0.3, 0.0, 0.02])
    actions = np.zeros((2, 7))
    actions[:, 6] = (-1.0, 1.0)
    targets = arbiter.converter.to_joint_positions(actions, state)
    assert targets[:, 6].tolist() == pytest.approx([0.04, 0.0])
    np.testing.assert_allclose(targets[:, :6], np.repeat(state[None, :6], 2, axis=0), atol=1e-3)
