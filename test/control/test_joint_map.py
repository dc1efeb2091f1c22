# SPDX-License-Identifier: Apache-2.0
"""Joint states from real stacks (extra joints, one topic per arm) and command groups."""
from __future__ import annotations

import math

import pytest

from cosmos_policy_ros.control.joint_map import JointStateMerger, group_columns
from cosmos_policy_ros.control.limits import JointLimits, limits_in_policy_units
from cosmos_policy_ros.presets import CommandGroup, JointUnits, StateSource, load_preset

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


def test_aloha_gripper_units_are_trossens():
    """Policy 0 = closed, 1 = open; the driver's gripper angle per Interbotix/aloha constants.py
    (FOLLOWER_GRIPPER_JOINT_CLOSE 0.6197, FOLLOWER_GRIPPER_JOINT_OPEN 1.6214)."""
    units = load_preset("aloha").joint_units
    assert set(units) == {"left_gripper", "right_gripper"}
    gripper = units["left_gripper"]
    assert (gripper.to_robot(0.0), gripper.to_robot(1.0)) == pytest.approx((0.6197, 1.6214))
    assert gripper.from_robot(gripper.to_robot(0.37)) == pytest.approx(0.37)
    assert gripper.rate_to_robot(1.0) == pytest.approx(1.6214 - 0.6197)  # a rate has no offset
    assert gripper.rate_from_robot(gripper.rate_to_robot(-0.4)) == pytest.approx(-0.4)


def test_states_arrive_in_policy_units():
    """The driver reports its gripper angle; the merged state carries the policy's value."""
    units = load_preset("aloha").joint_units
    merger = JointStateMerger(ALOHA, (StateSource("follower_left/joint_states", "left_"),
                                      StateSource("follower_right/joint_states", "right_")), units)
    merger.update("follower_left/joint_states", ["waist", "gripper"], [0.1, 1.6214], [0.2, 1.6214 - 0.6197])
    merger.update("follower_right/joint_states", ["waist", "gripper"], [-0.1, 0.6197], [0.0, 0.0])
    names, positions, velocities = merger.state()
    assert positions == pytest.approx([0.1, 1.0, -0.1, 0.0])  # the arm joints untouched
    assert velocities == pytest.approx([0.2, 1.0, 0.0, 0.0])


def test_description_limits_in_policy_units():
    """Bounds map (and reorder for a closing direction), rates scale, continuous stays unbounded."""
    limits = {"g": JointLimits(lower=0.6197, upper=1.6214, velocity=2.0, acceleration=4.0),
              "flip": JointLimits(lower=-1.0, upper=1.0, velocity=1.0),
              "spin": JointLimits(lower=-math.inf, upper=math.inf, velocity=3.0),
              "arm": JointLimits(lower=-2.0, upper=2.0, velocity=1.5)}
    span = 1.6214 - 0.6197
    out = limits_in_policy_units(limits, {"g": JointUnits(0.6197, 1.6214), "flip": JointUnits(1.0, -1.0),
                                          "spin": JointUnits(0.0, 2.0)})
    assert (out["g"].lower, out["g"].upper) == pytest.approx((0.0, 1.0))
    assert (out["g"].velocity, out["g"].acceleration) == pytest.approx((2.0 / span, 4.0 / span))
    assert (out["flip"].lower, out["flip"].upper, out["flip"].velocity) == pytest.approx((0.0, 1.0, 0.5))
    assert (out["spin"].lower, out["spin"].upper) == (-math.inf, math.inf)
    assert out["arm"] == limits["arm"]


@pytest.mark.parametrize("zero, one", [(1.0, 1.0), (0.0, math.nan), (math.inf, 1.0)])
def test_units_need_two_different_finite_values(zero, one):
    with pytest.raises(ValueError, match="two different finite values"):
        JointUnits(zero, one)


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
