# SPDX-License-Identifier: Apache-2.0
"""Joint states from real stacks (extra joints, one topic per arm) and command groups."""
from __future__ import annotations

import pytest

from cosmos_policy_ros.control.joint_map import CommandGroup, JointStateMerger, StateSource, group_columns

ALOHA = ("left_waist", "left_gripper", "right_waist", "right_gripper")


def test_extra_joints_are_ignored():
    """franka_ros2's joint_states also carry the second finger: the preset's joints still arrive."""
    merger = JointStateMerger(("j1", "j2"), (StateSource("joint_states"),))
    assert merger.update("joint_states", ["finger2", "j2", "j1"], [0.04, 2.0, 1.0], [0.0, 0.2, 0.1])
    assert merger.state() == (["j1", "j2"], [1.0, 2.0], [0.1, 0.2])


def test_two_arms_merge_with_prefixes_once_both_have_arrived():
    merger = JointStateMerger(ALOHA, (StateSource("follower_left/joint_states", "left_"),
                                      StateSource("follower_right/joint_states", "right_")))
    assert not merger.update("follower_left/joint_states", ["waist", "gripper", "left_finger"], [0.1, 0.5, 0.02], [])
    assert merger.update("follower_right/joint_states", ["waist", "gripper"], [-0.1, 0.6], [0.0, 0.0])
    names, positions, velocities = merger.state()
    assert (names, positions) == (list(ALOHA), [0.1, 0.5, -0.1, 0.6])
    assert velocities == []  # the left arm reported none: unknown, not NaN


def test_a_malformed_message_changes_nothing_and_a_topic_must_keep_its_joints():
    merger = JointStateMerger(("j1", "j2"), (StateSource("joint_states"),))
    assert merger.update("joint_states", ["j1", "j2"], [1.0, 2.0], [0.1, 0.2])
    for names, positions, velocities, match in ((["j1", "j2"], [5.0], [], "position has 1 values but"),
                                                (["j1", "j2"], [5.0, 6.0], [0.0], "velocity has 1 values but"),
                                                (["j1", "j1"], [5.0, 6.0], [], "duplicate"),
                                                (["j1"], [5.0], [], r"missing \['j2'\]")):
        with pytest.raises(ValueError, match=match):
            merger.update("joint_states", names, positions, velocities)
    assert merger.state() == (["j1", "j2"], [1.0, 2.0], [0.1, 0.2])


def test_group_columns_follow_the_group_order():
    group = CommandGroup("right", ("right_gripper", "right_waist"), "joint_trajectory_topic", "t",
                         robot_joints=("gripper", "waist"))
    assert group_columns(group, ALOHA) == [3, 2]
    assert group.names_on_robot == ("gripper", "waist")
    with pytest.raises(ValueError, match="lacks"):
        group_columns(group, ALOHA[:2])


@pytest.mark.parametrize("kwargs, match", [
    ({"interface": "ethercat"}, "must be one of"),
    ({"interface": "gripper_command", "joints": ("a", "b")}, "exactly one joint"),
    ({"robot_joints": ("x",)}, "must name each"),
])
def test_bad_groups_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CommandGroup(**{"name": "g", "joints": ("a", "b"), "interface": "joint_trajectory_topic", "target": "t",
                        **kwargs})
