# SPDX-License-Identifier: Apache-2.0
"""Joint limits from URDF text and the whole-trajectory check."""
from __future__ import annotations

import math

import numpy as np
import pytest

from cosmos_policy_ros.control.limits import (
    JointLimits,
    LimitArrays,
    apply_limit_overrides,
    check_trajectory,
    parse_joint_limits,
    saturate_positions,
)

URDF = """<robot name="two">
  <link name="base"/><link name="a"/><link name="b"/><link name="c"/><link name="d"/>
  <joint name="j1" type="revolute"><parent link="base"/><child link="a"/>
    <limit lower="-1.0" upper="1.5" velocity="2.0" effort="10"/>
    <safety_controller soft_lower_limit="-0.9" soft_upper_limit="2.0" k_position="1" k_velocity="1"/>
  </joint>
  <joint name="j2" type="continuous"><parent link="a"/><child link="b"/><limit velocity="3.0" effort="5"/></joint>
  <joint name="fixed" type="fixed"><parent link="b"/><child link="c"/></joint>
  <joint name="slide" type="prismatic"><parent link="c"/><child link="d"/>
    <limit lower="0" upper="0.04" velocity="0.1" effort="20"/></joint>
  <joint name="slide_mimic" type="prismatic"><parent link="c"/><child link="d"/>
    <limit lower="0" upper="0.04" velocity="0.1" effort="20"/><mimic joint="slide"/></joint>
</robot>"""


def test_parse_movable_non_mimic_joints_with_soft_limits():
    limits = parse_joint_limits(URDF)
    assert sorted(limits) == ["j1", "j2", "slide"]
    assert limits["j1"] == JointLimits(lower=-0.9, upper=1.5, velocity=2.0, acceleration=None, effort=10.0)
    assert limits["j2"].lower == -math.inf and limits["j2"].upper == math.inf and limits["j2"].velocity == 3.0
    assert limits["slide"].upper == pytest.approx(0.04)
    assert parse_joint_limits(URDF, use_smallest_joint_limits=False)["j1"].lower == -1.0


def test_parse_errors_are_clear():
    with pytest.raises(ValueError, match="not valid XML"):
        parse_joint_limits("<robot")
    with pytest.raises(ValueError, match="expected <robot>"):
        parse_joint_limits("<model/>")
    with pytest.raises(ValueError, match="has no <limit>"):
        parse_joint_limits('<robot name="r"><joint name="x" type="revolute"/></robot>')


def test_sim_arm_urdf_limits(repo_root):
    limits = parse_joint_limits((repo_root / "urdf" / "sim_arm.urdf").read_text())
    assert "gripper_joint" in limits and "right_finger_joint" not in limits  # mimic skipped
    assert limits["elbow_joint"].velocity == pytest.approx(2.5)


def test_overrides_add_acceleration_and_reject_unknowns():
    limits = apply_limit_overrides(parse_joint_limits(URDF), {"j1": {"acceleration": 5.0}})
    assert limits["j1"].acceleration == 5.0 and limits["j2"].acceleration is None
    with pytest.raises(ValueError, match="unknown joint"):
        apply_limit_overrides(limits, {"nope": {"acceleration": 1.0}})
    with pytest.raises(ValueError, match="unknown field"):
        apply_limit_overrides(limits, {"j1": {"jerk": 1.0}})
    with pytest.raises(ValueError, match="acceleration"):
        apply_limit_overrides(limits, {"j1": {"acceleration": -1.0}})


def _arrays(acceleration: float = 10.0) -> LimitArrays:
    limits = apply_limit_overrides(parse_joint_limits(URDF),
                                   {j: {"acceleration": acceleration} for j in ("j1", "j2", "slide")})
    return LimitArrays.from_limits(limits, ["j1", "j2", "slide"])


def _ramp(n: int = 5, dt: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    times = np.arange(n) * dt
    positions = np.stack([0.1 * times, -0.2 * times, 0.01 + 0.01 * times], axis=1)
    return positions, times


def test_valid_trajectory_passes():
    positions, times = _ramp()
    assert check_trajectory(positions, times, _arrays(), start_velocity=np.array([0.1, -0.2, 0.01])) is None


def test_missing_joint_limits_named():
    with pytest.raises(ValueError, match="nope"):
        LimitArrays.from_limits(parse_joint_limits(URDF), ["j1", "nope"])


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_rejected_with_joint_and_step(value):
    positions, times = _ramp()
    positions[3, 1] = value
    reason = check_trajectory(positions, times, _arrays())
    assert reason is not None and "j2" in reason and "step 3" in reason and "non-finite" in reason


def test_position_bound_violation_named():
    positions, times = _ramp()
    positions[2, 0] = 1.6
    reason = check_trajectory(positions, times, _arrays())
    assert "j1" in reason and "step 2" in reason and "1.6" in reason


def test_saturation_sets_slivers_past_a_bound_to_it_and_leaves_the_rest_to_the_check():
    limits = _arrays()  # j1 [-1, 1.5] (range 2.5), j2 continuous, slide [0, 0.04]
    positions = np.array([[1.55, 7.0, -0.001],    # j1 0.05 past (2 % of range), slide 0.001 past (2.5 %)
                          [1.9, -7.0, 0.0421],    # j1 0.4 past (16 %): left for the check; slide 0.0021 past
                          [0.2, 0.0, 0.02]])
    out = saturate_positions(positions, limits, range_fraction=0.05)
    np.testing.assert_allclose(out, [[1.5, 7.0, 0.0], [1.9, -7.0, 0.0421], [0.2, 0.0, 0.02]])
    assert "j1" in check_trajectory(out, np.arange(3) * 10.0, limits)  # 1.9 still rejected
    np.testing.assert_array_equal(saturate_positions(positions, limits, 0.0), positions)
    assert positions[0, 0] == 1.55  # the input is not modified


def test_velocity_violation_named():
    positions, times = _ramp()
    positions[3:, 1] -= 0.5  # 0.5 rad in 0.1 s on j2 (limit 3 rad/s) -> 5 rad/s
    reason = check_trajectory(positions, times, _arrays())
    assert "j2 velocity" in reason and "steps 2 and 3" in reason


def test_acceleration_violation_named():
    times = np.arange(4) * 0.1
    positions = np.zeros((4, 3)) + 0.01
    positions[:, 0] = [0.0, 0.0, 0.1, 0.3]  # j1 velocity 0 -> 1 -> 2 rad/s: 10 rad/s^2 twice
    assert check_trajectory(positions, times, _arrays(acceleration=10.0)) is None
    reason = check_trajectory(positions, times, _arrays(acceleration=5.0))
    assert "j1 acceleration" in reason and "step 1" in reason


def test_start_velocity_acceleration_checked():
    positions, times = _ramp()
    arrays = _arrays(acceleration=1.0)
    assert check_trajectory(positions, times, arrays, start_velocity=np.array([0.1, -0.2, 0.01])) is None
    reason = check_trajectory(positions, times, arrays, start_velocity=np.array([-1.0, -0.2, 0.01]))
    assert "j1 acceleration" in reason and "step 0" in reason


def test_jump_and_time_order_and_shape():
    positions, times = _ramp()
    positions[1:, 0] += 0.15
    assert "jumps" in check_trajectory(positions, times * 10, _arrays(), max_start_jump=0.1)
    assert "not increasing" in check_trajectory(*_ramp()[:1], np.array([0, 0.1, 0.1, 0.3, 0.4]), _arrays())
    assert "shape" in check_trajectory(np.zeros((3, 2)), np.arange(3.0), _arrays())
    assert "no points" in check_trajectory(np.zeros((0, 3)), np.zeros(0), _arrays())


def test_without_rate_limits_keeps_positions():
    arrays = _arrays().without_rate_limits(["slide"])
    positions, times = _ramp()
    positions[2:, 2] = 0.04  # fast gripper close: 0.28 m/s > 0.1 m/s
    assert check_trajectory(positions, times, arrays) is None
    assert "slide velocity" in check_trajectory(positions, times, _arrays())
    positions[2, 2] = 0.05
    assert "slide position" in check_trajectory(positions, times, arrays)
