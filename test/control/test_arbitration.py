# SPDX-License-Identifier: Apache-2.0
"""The arbiter logic without ROS: per-mode behaviour, rejection -> HOLD, bumpless hand-off, watchdog."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from cosmos_policy_ros.control.action_spaces import ActionSpaceConverter
from cosmos_policy_ros.control.arbitration import Arbiter, ArbiterConfig, PolicyChunk, to_matrix
from cosmos_policy_ros.control.limits import JointLimits, LimitArrays
from cosmos_policy_ros.control.modes import Mode
from cosmos_policy_ros.control.stitching import StitchConfig

JOINTS = ("a", "b", "grip")
DT = 0.1
LIMITS = LimitArrays.from_limits({
    "a": JointLimits(-2.0, 2.0, velocity=2.0, acceleration=40.0),
    "b": JointLimits(-2.0, 2.0, velocity=2.0, acceleration=40.0),
    "grip": JointLimits(0.0, 0.04, velocity=0.1, acceleration=1.0),
}, JOINTS).without_rate_limits(["grip"])


def _arbiter(mode: Mode = Mode.POLICY, **overrides) -> Arbiter:
    config = ArbiterConfig(limits=LIMITS, stitch=StitchConfig(latency_margin_s=0.02), start_mode=mode,
                           **overrides)
    arbiter = Arbiter(config, ActionSpaceConverter("joint_position", JOINTS))
    arbiter.on_joint_state(0.0, JOINTS, [0.0, 0.0, 0.02], [0.0, 0.0, 0.0])
    return arbiter


def _chunk(stamp: float, start=(0.0, 0.0), step=0.01, h: int = 8, value: float = math.nan,
           execute_steps: int = 0) -> PolicyChunk:
    rows = [[start[0] + k * step, start[1] - k * step, 0.02] for k in range(h)]
    return PolicyChunk(stamp_s=stamp, action_names=JOINTS, actions=rows, dt_s=DT, value=value,
                       execute_steps=execute_steps)


def test_chunk_becomes_anchored_trajectory_from_measured_state():
    arbiter = _arbiter()
    (cmd,) = arbiter.on_policy_chunk(_chunk(stamp=0.0), now_s=0.15)
    traj = cmd.trajectory
    assert not cmd.shadow and cmd.joint_names == JOINTS
    assert traj.stamp_s == 0.0 and traj.first_step_index == 2
    np.testing.assert_allclose(traj.positions[0], [0.0, 0.0, 0.02])  # seam = measured (bumpless)
    np.testing.assert_allclose(traj.times_from_start_s, [0.15] + [k * DT for k in range(2, 8)])
    assert arbiter.watchdog.deadline_s == pytest.approx(0.7 + arbiter.config.watchdog_margin_s)  # no horizon
    assert not arbiter.modes.needs_measured_start


def test_next_chunk_stitched_on_commanded_state():
    arbiter = _arbiter()
    arbiter.on_policy_chunk(_chunk(stamp=0.0), now_s=0.05)
    expected, _ = arbiter.commanded.sample(0.42)
    (cmd,) = arbiter.on_policy_chunk(_chunk(stamp=0.3, start=(0.03, -0.03)), now_s=0.42)
    np.testing.assert_allclose(cmd.trajectory.positions[0], expected)


@pytest.mark.parametrize("bad, words", [
    ((3, 0, math.nan), ["non-finite", "a", "step"]),
    ((5, 1, 2.5), ["b position", "outside"]),
    ((4, 0, 1.9), ["a velocity"]),
])
def test_bad_chunk_rejected_whole_hold_with_reason(bad, words):
    arbiter = _arbiter()
    chunk = _chunk(stamp=0.0)
    rows = [list(r) for r in chunk.actions]
    rows[bad[0]][bad[1]] = bad[2]
    (hold,) = arbiter.on_policy_chunk(PolicyChunk(0.0, JOINTS, rows, DT), now_s=0.05)
    assert arbiter.modes.mode == Mode.HOLD and arbiter.rejected_chunks == 1
    assert all(w in arbiter.reason for w in words), arbiter.reason
    np.testing.assert_allclose(hold.trajectory.positions, [[0.0, 0.0, 0.02]])  # hold at measured
    assert arbiter.on_policy_chunk(_chunk(stamp=0.1), now_s=0.15) == []  # nothing passes in HOLD


def test_gripper_sampled_a_sliver_below_its_bound_is_saturated_not_a_fault():
    rows = [list(r) for r in _chunk(stamp=0.0).actions]
    for row in rows:
        row[2] = -0.0003  # "closed", 0.75 % of the gripper's 0.04 range below its lower bound
    (cmd,) = _arbiter().on_policy_chunk(PolicyChunk(0.0, JOINTS, rows, DT), now_s=0.05)
    np.testing.assert_array_equal(cmd.trajectory.positions[1:, 2], 0.0)
    strict = _arbiter(position_saturation=0.0)
    strict.on_policy_chunk(PolicyChunk(0.0, JOINTS, rows, DT), now_s=0.05)
    assert strict.modes.mode == Mode.HOLD and "grip position" in strict.reason, strict.reason
    with pytest.raises(ValueError, match="position_saturation"):
        ArbiterConfig(limits=LIMITS, position_saturation=0.9)


def test_malformed_chunks_rejected_not_raised():
    arbiter = _arbiter()
    for chunk in (PolicyChunk(0.0, ("a", "b"), [[0.0, 0.0]], DT),
                  PolicyChunk(0.0, JOINTS, [[0.0, 0.0]], DT),
                  PolicyChunk(0.0, JOINTS, [], DT),
                  PolicyChunk(0.0, JOINTS, [[0.0, 0.0, 0.02]], -1.0),
                  PolicyChunk(1e9, JOINTS, [[0.0, 0.0, 0.02]], DT)):
        arbiter.modes.request(Mode.POLICY, "again", 0.0)
        assert len(arbiter.on_policy_chunk(chunk, now_s=0.0)) == 1  # the HOLD
        assert arbiter.modes.mode == Mode.HOLD
    assert arbiter.rejected_chunks == 5


def test_late_chunk_counts_deadline_miss_and_keeps_mode():
    arbiter = _arbiter()
    assert arbiter.on_policy_chunk(_chunk(stamp=0.0), now_s=5.0) == []
    assert arbiter.deadline_misses == 1 and arbiter.modes.mode == Mode.POLICY
    assert "over budget" in arbiter.reason


def test_watchdog_without_execute_steps_holds_at_the_trajectory_end():
    arbiter = _arbiter()
    arbiter.on_policy_chunk(_chunk(stamp=0.0), now_s=0.05)  # execute_steps 0: the whole chunk
    assert arbiter.on_tick(0.75) == []
    (hold,) = arbiter.on_tick(0.81)
    assert arbiter.starved and "watchdog" in arbiter.reason and "starved" in arbiter.reason
    assert hold.trajectory.positions.shape == (1, 3)


def test_watchdog_deadline_is_the_execution_horizon_not_the_look_ahead():
    arbiter = _arbiter()
    arbiter.on_joint_state(0.3, JOINTS, [0.03, -0.03, 0.02], [0.1, -0.1, 0.0])
    (cmd,) = arbiter.on_policy_chunk(_chunk(stamp=0.0, h=16, execute_steps=4), now_s=0.05)
    assert cmd.trajectory.end_time_s == pytest.approx(1.5)  # look-ahead reaches step 15
    assert arbiter.watchdog.deadline_s == pytest.approx(0.4 + arbiter.config.watchdog_margin_s)
    assert arbiter.on_tick(0.49) == []
    (hold,) = arbiter.on_tick(0.51)  # the policy died: hold long before the chunk's end at 1.5 s
    np.testing.assert_allclose(hold.trajectory.positions, [[0.03, -0.03, 0.02]])  # at the measured state
    assert hold.trajectory.stamp_s == 0.51 and arbiter.deadline_misses == 1
    assert arbiter.on_tick(0.6) == []  # one hold, not one per tick


def test_starvation_stays_in_policy_and_next_chunk_resumes_from_measured_state():
    arbiter = _arbiter()
    arbiter.on_policy_chunk(_chunk(stamp=0.0, execute_steps=4), now_s=0.05)
    arbiter.on_joint_state(0.5, JOINTS, [0.05, -0.05, 0.02], [0.0, 0.0, 0.0])
    (hold,) = arbiter.on_tick(0.55)
    assert arbiter.modes.mode == Mode.POLICY and arbiter.starved and "starved" in arbiter.reason
    # the late chunk starts near the arm, but the commanded seam (a hold at 0.05) is not used blindly:
    # the seam is the measured state, whatever the last command was
    arbiter.on_joint_state(0.6, JOINTS, [0.051, -0.049, 0.02], [0.0, 0.0, 0.0])
    (cmd,) = arbiter.on_policy_chunk(_chunk(stamp=0.6, start=(0.05, -0.05), execute_steps=4), now_s=0.65)
    np.testing.assert_allclose(cmd.trajectory.positions[0], [0.051, -0.049, 0.02])
    assert not arbiter.starved and arbiter.modes.mode == Mode.POLICY and "resumed" in arbiter.reason
    assert arbiter.watchdog.deadline_s == pytest.approx(1.0 + arbiter.config.watchdog_margin_s)


def test_after_starvation_a_bad_chunk_is_still_a_fault():
    arbiter = _arbiter()
    arbiter.on_policy_chunk(_chunk(stamp=0.0, execute_steps=4), now_s=0.05)
    arbiter.on_tick(0.55)
    rows = [list(r) for r in _chunk(stamp=0.6).actions]
    rows[5][0] = math.nan
    (hold,) = arbiter.on_policy_chunk(PolicyChunk(0.6, JOINTS, rows, DT), now_s=0.65)
    assert arbiter.modes.mode == Mode.HOLD and not arbiter.starved and "non-finite" in arbiter.reason
    assert arbiter.on_policy_chunk(_chunk(stamp=0.7), now_s=0.75) == []  # an operator must act


def test_watchdog_not_armed_before_first_chunk():
    arbiter = _arbiter()
    assert arbiter.on_tick(1e6) == [] and arbiter.modes.mode == Mode.POLICY


def test_low_value_holds_and_calls_for_teleop():
    arbiter = _arbiter(value_threshold=0.5)
    arbiter.on_policy_chunk(_chunk(stamp=0.0, value=0.2), now_s=0.05)
    assert arbiter.modes.mode == Mode.HOLD and arbiter.modes.call_for_teleop
    assert arbiter.last_value == pytest.approx(0.2)


def test_policy_flagged_call_for_teleop_holds_even_without_arbiter_threshold():
    arbiter = _arbiter()  # the arbiter's own gate is off: the policy's run-time threshold decides
    flagged = dataclasses.replace(_chunk(stamp=0.0, value=0.4), call_for_teleop=True)
    (hold,) = arbiter.on_policy_chunk(flagged, now_s=0.05)
    assert hold.trajectory.positions.shape == (1, 3)  # only the hold: nothing of the chunk passed
    np.testing.assert_allclose(hold.trajectory.positions[0], [0.0, 0.0, 0.02])
    assert arbiter.modes.mode == Mode.HOLD and arbiter.modes.call_for_teleop
    assert "policy calls for teleop" in arbiter.reason and "0.400" in arbiter.reason
    assert arbiter.rejected_chunks == 0  # a call for a human is not a fault of the chunk
    assert arbiter.on_policy_chunk(_chunk(stamp=0.1), now_s=0.15) == []  # HOLD until the operator acts
    arbiter.request_mode(Mode.TELEOP, "operator answers", 0.2)
    assert not arbiter.modes.call_for_teleop


def test_unflagged_chunk_above_threshold_passes():
    arbiter = _arbiter(value_threshold=0.5)
    (cmd,) = arbiter.on_policy_chunk(_chunk(stamp=0.0, value=0.7), now_s=0.05)
    assert len(cmd.trajectory.positions) > 1 and arbiter.modes.mode == Mode.POLICY
    assert not arbiter.modes.call_for_teleop


def test_estop_blocks_everything_until_reset():
    arbiter = _arbiter(Mode.TELEOP)
    result, (hold,) = arbiter.estop("button", 0.0)
    assert result.mode == Mode.ESTOP and hold.trajectory.positions.shape == (1, 3)
    assert arbiter.on_teleop_targets(JOINTS, [0.01, 0.0, 0.02], 0.1) == []
    assert arbiter.request_mode(Mode.TELEOP, "x", 0.2)[0].success is False
    assert arbiter.on_policy_chunk(_chunk(0.2), 0.25) == []
    result, _ = arbiter.reset("ok", 0.3)
    assert result.mode == Mode.HOLD
    assert arbiter.request_mode(Mode.TELEOP, "go", 0.4)[0].success
    assert len(arbiter.on_teleop_targets(JOINTS, [0.01, 0.0, 0.02], 0.5)) == 1


def test_teleop_passthrough_checked_and_unknown_joints_rejected():
    arbiter = _arbiter(Mode.TELEOP)
    (cmd,) = arbiter.on_teleop_trajectory(["grip", "b", "a"], [[0.02, 0.05, 0.1], [0.02, 0.1, 0.2]],
                                          [0.1, 0.2], stamp_s=0.0, now_s=1.0)
    np.testing.assert_allclose(cmd.trajectory.positions[1:], [[0.1, 0.05, 0.02], [0.2, 0.1, 0.02]])
    assert cmd.trajectory.stamp_s == 1.0
    assert arbiter.on_teleop_trajectory(["a", "b", "zz"], [[0, 0, 0]], [0.1], 0.0, 1.1) == []
    assert arbiter.on_teleop_targets(JOINTS, [1.9, 0.0, 0.02], 1.2) == []  # 19 rad/s from the seam
    assert arbiter.rejected_teleop == 2 and arbiter.modes.mode == Mode.TELEOP


def test_bumpless_teleop_to_policy_starts_from_measured_state():
    arbiter = _arbiter(Mode.TELEOP)
    arbiter.on_teleop_targets(JOINTS, [0.05, 0.0, 0.02], 0.0)  # commanded 0.05 at t=0.1
    arbiter.on_joint_state(0.3, JOINTS, [0.12, 0.0, 0.02], [0.0, 0.0, 0.0])  # arm is elsewhere
    result, commands = arbiter.request_mode(Mode.POLICY, "hand-off", 0.3)
    assert result.success and commands == []  # entering POLICY commands nothing by itself
    (cmd,) = arbiter.on_policy_chunk(_chunk(stamp=0.3, start=(0.12, 0.0), step=0.01), now_s=0.35)
    np.testing.assert_allclose(cmd.trajectory.positions[0], [0.12, 0.0, 0.02])


def test_leaving_policy_cancels_trajectory_with_hold():
    arbiter = _arbiter()
    arbiter.on_policy_chunk(_chunk(stamp=0.0), now_s=0.05)
    result, (hold,) = arbiter.request_mode(Mode.TELEOP, "intervene", 0.2)
    assert result.mode == Mode.TELEOP and hold.trajectory.positions.shape == (1, 3)
    assert arbiter.on_policy_chunk(_chunk(stamp=0.2), now_s=0.25) == []


def test_shadow_mode_publishes_only_to_shadow():
    arbiter = _arbiter(Mode.TELEOP, shadow_mode=True)
    (cmd,) = arbiter.on_policy_chunk(_chunk(stamp=0.0), now_s=0.05)
    assert cmd.shadow and arbiter.modes.mode == Mode.TELEOP
    assert not arbiter.request_mode(Mode.POLICY, "x", 0.1)[0].success
    with pytest.raises(ValueError, match="start_mode"):
        ArbiterConfig(limits=LIMITS, shadow_mode=True, start_mode=Mode.POLICY)


def test_malformed_joint_states_ignored():
    arbiter = _arbiter()
    for names, pos, vel in ((JOINTS, [math.nan, 0, 0], []), (("a",), [0.0], []), (JOINTS, [0, 0], []),
                            (JOINTS, [0, 0, 0], [0.0]), (JOINTS, [1e6, 0, 0], [])):
        arbiter.on_joint_state(1.0, names, pos, vel)
    assert arbiter.malformed_inputs == 5 and arbiter.states.latest.stamp_s == 0.0


def test_hold_is_clamped_into_bounds():
    arbiter = _arbiter()
    arbiter.on_joint_state(1.0, JOINTS, [2.1, 0.0, 0.02], [])  # slightly beyond a's upper bound 2.0
    _, (hold,) = arbiter.request_mode(Mode.HOLD, "stop", 1.0)
    np.testing.assert_allclose(hold.trajectory.positions, [[2.0, 0.0, 0.02]])


def test_to_matrix_reorders_and_validates():
    np.testing.assert_array_equal(to_matrix(["b", "a"], [[1, 2]], ["a", "b"]), [[2, 1]])
    with pytest.raises(ValueError, match="duplicate"):
        to_matrix(["a", "a"], [[1, 2]], ["a"])
