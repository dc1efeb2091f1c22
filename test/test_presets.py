# SPDX-License-Identifier: Apache-2.0
"""Every shipped robot preset loads and says what its robot is; presets are found when installed."""
from __future__ import annotations

import pytest

from cosmos_policy_ros import presets
from cosmos_policy_ros.presets import RobotPreset, available_presets, load_preset


@pytest.mark.parametrize("name", available_presets())
def test_every_preset_loads_and_round_trips(name):
    preset = load_preset(name)
    assert preset.name == name
    assert set(preset.gripper_joints) <= set(preset.joints)
    assert load_preset(presets.ROBOTS_DIR / f"{name}.yaml").to_dict() == preset.to_dict()


def test_shipped_presets_include_the_documented_robots():
    assert {"sim_arm", "aloha", "fr3", "ur"} <= set(available_presets())


def test_aloha_preset_matches_the_official_setup():
    aloha = load_preset("aloha")
    assert aloha.num_joints == 14 and aloha.gripper_joints == ("left_gripper", "right_gripper")
    assert (aloha.chunk_length, aloha.control_rate_hz) == (50, 25.0)
    assert [c.name for c in aloha.cameras] == ["cam_left_wrist", "cam_right_wrist", "cam_high"]


def test_real_stack_presets_match_their_stacks_name_for_name():
    """fr3: franka_ros2's FR3 stack; ur: ur_robot_driver; aloha: Trossen's per-arm interbotix drivers."""
    fr3 = load_preset("fr3")
    assert fr3.joints == tuple(f"fr3_joint{i}" for i in range(1, 8)) + ("fr3_finger_joint1",)
    arm, gripper = fr3.command_groups
    assert (arm.interface, arm.target, arm.joints) == (
        "follow_joint_trajectory", "/fr3_arm_controller/follow_joint_trajectory", fr3.joints[:7])
    assert (gripper.interface, gripper.target, gripper.joints) == (
        "gripper_command", "/fr3_gripper/gripper_action", ("fr3_finger_joint1",))
    ur = load_preset("ur")
    assert ur.joints == ("shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint",
                         "wrist_2_joint", "wrist_3_joint")
    assert [(g.interface, g.target) for g in ur.command_groups] == [
        ("follow_joint_trajectory", "/scaled_joint_trajectory_controller/follow_joint_trajectory")]
    aloha = load_preset("aloha")
    assert [(s.topic, s.prefix) for s in aloha.state_sources] == [
        ("follower_left/joint_states", "left_"), ("follower_right/joint_states", "right_")]
    assert [(g.interface, g.target, g.names_on_robot[0]) for g in aloha.command_groups] == [
        ("interbotix_trajectory", "follower_left/commands/joint_trajectory", "waist"),
        ("interbotix_single", "follower_left/commands/joint_single", "gripper"),
        ("interbotix_trajectory", "follower_right/commands/joint_trajectory", "waist"),
        ("interbotix_single", "follower_right/commands/joint_single", "gripper")]
    assert all(not p.urdf for p in (fr3, ur, aloha))  # limits from /robot_description


def test_a_preset_without_groups_sends_everything_to_its_controller_topic():
    sim = load_preset("sim_arm")
    [group] = sim.command_groups
    assert (group.interface, group.target, group.joints) == ("joint_trajectory_topic", sim.controller_topic, sim.joints)


def test_command_groups_must_cover_each_joint_once(tmp_path):
    data = load_preset("fr3").to_dict()
    data["command_groups"][1]["joints"] = ["fr3_joint7"]
    with pytest.raises(ValueError, match=r"missing \['fr3_finger_joint1'\].*repeated \['fr3_joint7'\]"):
        RobotPreset.from_dict(data)


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
