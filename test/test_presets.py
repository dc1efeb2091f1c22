# SPDX-License-Identifier: Apache-2.0
"""Every shipped robot preset loads and says what its robot is; presets are found when installed."""
from __future__ import annotations

import pytest

from cosmos_policy_ros import presets
from cosmos_policy_ros.presets import available_presets, load_preset


@pytest.mark.parametrize("name", available_presets())
def test_every_preset_loads_and_round_trips(name):
    preset = load_preset(name)
    assert preset.name == name
    assert set(preset.gripper_joints) <= set(preset.joints)
    assert load_preset(presets.ROBOTS_DIR / f"{name}.yaml").to_dict() == preset.to_dict()


def test_shipped_presets_include_the_documented_robots():
    assert {"sim_arm", "aloha", "franka"} <= set(available_presets())


def test_aloha_preset_matches_the_official_setup():
    aloha = load_preset("aloha")
    assert aloha.num_joints == 14 and aloha.gripper_joints == ("left_gripper", "right_gripper")
    assert (aloha.chunk_length, aloha.control_rate_hz) == (50, 25.0)
    assert [c.name for c in aloha.cameras] == ["cam_left_wrist", "cam_right_wrist", "cam_high"]


def test_franka_preset_is_panda_plus_gripper():
    franka = load_preset("franka")
    assert franka.joints[:7] == tuple(f"panda_joint{i}" for i in range(1, 8))
    assert franka.gripper_joints == ("panda_finger_joint1",) and franka.num_joints == 8
    assert franka.controller_topic == "/panda_arm_controller/joint_trajectory"


def test_unknown_preset_gets_a_hint():
    with pytest.raises(ValueError, match="did you mean 'aloha'"):
        load_preset("alhoa")


def test_config_is_found_in_the_installed_share_folder(tmp_path, monkeypatch):
    """Without a source tree, presets come from share/cosmos_policy_ros via the ament index."""
    (tmp_path / "share/ament_index/resource_index/packages").mkdir(parents=True)
    (tmp_path / f"share/ament_index/resource_index/packages/{presets.PACKAGE}").touch()
    robots = tmp_path / f"share/{presets.PACKAGE}/config/robots"
    robots.mkdir(parents=True)
    monkeypatch.setattr(presets, "SOURCE_CONFIG_DIR", tmp_path / "no_source_tree" / "config")
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))
    assert presets.find_config_dir() == tmp_path / f"share/{presets.PACKAGE}/config"
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path / "elsewhere"))
    assert presets.find_config_dir() == presets.SOURCE_CONFIG_DIR  # not installed: the source path
