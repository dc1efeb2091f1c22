# SPDX-License-Identifier: Apache-2.0
"""The arbiter logic without ROS: per-mode behaviour, rejection -> HOLD, bumpless hand-off, watchdog."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from cosmos_policy_ros.control.action_spaces import ActionSpaceConverter
from cosmos_policy_ros.control.arbitration import Arbiter, ArbiterConfig, PolicyChunk, to_matrix
from cosmos_policy_ros.control.limits import JointLimits, LimitArrays, check_trajectory
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
    stitch = StitchConfig(latency_margin_s=0.02, min_seam_s=0.0)  # exact step times; seams: test_arbiter_properties
    config = ArbiterConfig(**{"limits": LIMITS, "stitch": stitch, "start_mode": mode, **overrides})
    arbiter = Arbiter(config, ActionSpaceConverter("joint_position", JOINTS))
    arbiter.on_joint_state(0.0, JOINTS, [0.0, 0.0, 0.02], [0.0, 0.0, 0.0])
    return arbiter


def _assert_stop_at(command, position) -> None:
    """A controlled stop: ends at rest at ``position`` and passes the limit check like any command."""
    traj = command.trajectory
    np.testing.assert_allclose(traj.positions[-1], position, atol=1e-9)
    np.testing.assert_allclose(traj.point_velocities()[-1], 0.0)
    assert check_trajectory(traj.positions, traj.times_from_start_s, LIMITS,
                            start_velocity=traj.start_velocity) is None


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
    ((3, 0, math.nan), ["non-finite", "joint a at step 3"]),
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
    _assert_stop_at(hold, [0.0, 0.0, 0.02])  # nothing was commanded: stop at the measured state
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
    # the trajectory had ended: the controller holds its last point, and so does the stop
    _assert_stop_at(hold, _chunk(stamp=0.0).actions[-1])


def test_stop_after_the_arm_was_moved_elsewhere_holds_where_it_is():
    arbiter = _arbiter(Mode.TELEOP)
    arbiter.on_teleop_targets(JOINTS, [0.05, 0.0, 0.02], 0.0)  # commanded 0.05, ended at 0.1 s
    for k in range(3):  # something else (a sim reset, another controller) put the arm 0.5 rad away
        arbiter.on_joint_state(1.0 + 0.01 * k, JOINTS, [0.55, 0.0, 0.02], [])
    _, (stop,) = arbiter.request_mode(Mode.HOLD, "x", 1.1)
    _assert_stop_at(stop, [0.55, 0.0, 0.02])  # not back to the stale 0.05


def test_watchdog_deadline_is_the_execution_horizon_not_the_look_ahead():
    arbiter = _arbiter()
    arbiter.on_joint_state(0.3, JOINTS, [0.03, -0.03, 0.02], [0.1, -0.1, 0.0])
    (cmd,) = arbiter.on_policy_chunk(_chunk(stamp=0.0, h=16, execute_steps=4), now_s=0.05)
    assert cmd.trajectory.end_time_s == pytest.approx(1.5)  # look-ahead reaches step 15
    assert arbiter.watchdog.deadline_s == pytest.approx(0.4 + arbiter.config.watchdog_margin_s)
    assert arbiter.on_tick(0.49) == []
    (hold,) = arbiter.on_tick(0.51)  # the policy died: hold long before the chunk's end at 1.5 s
    # a controlled stop from the commanded state (step 5.1 of the chunk, moving 0.1 rad/s), not a
    # jump to the measured one
    np.testing.assert_allclose(hold.trajectory.positions[0], [0.051, -0.051, 0.02])
    np.testing.assert_allclose(hold.trajectory.start_velocity, [0.1, -0.1, 0.0])
    _assert_stop_at(hold, hold.trajectory.positions[-1])
    assert hold.trajectory.positions[-1][0] > 0.051  # decelerating, not reversing
    assert hold.trajectory.stamp_s == 0.51 and arbiter.deadline_misses == 1
    assert arbiter.on_tick(0.6) == []  # one hold, not one per tick


def test_starvation_stays_in_policy_and_next_chunk_resumes_from_where_the_arm_stopped():
    arbiter = _arbiter()
    arbiter.on_policy_chunk(_chunk(stamp=0.0, execute_steps=4), now_s=0.05)
    arbiter.on_joint_state(0.5, JOINTS, [0.05, -0.05, 0.02], [0.0, 0.0, 0.0])
    (hold,) = arbiter.on_tick(0.55)
    assert arbiter.modes.mode == Mode.POLICY and arbiter.starved and "starved" in arbiter.reason
    # once the stop has ended, the seam is the measured state where the arm came to rest
    arbiter.on_joint_state(1.1, JOINTS, [0.051, -0.049, 0.02], [0.0, 0.0, 0.0])
    assert hold.trajectory.end_time_s < 1.15
    (cmd,) = arbiter.on_policy_chunk(_chunk(stamp=1.1, start=(0.05, -0.05), execute_steps=4), now_s=1.15)
    np.testing.assert_allclose(cmd.trajectory.positions[0], [0.051, -0.049, 0.02])
    assert not arbiter.starved and arbiter.modes.mode == Mode.POLICY and "resumed" in arbiter.reason
    assert arbiter.watchdog.deadline_s == pytest.approx(1.5 + arbiter.config.watchdog_margin_s)


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
    _assert_stop_at(hold, [0.0, 0.0, 0.02])  # only the stop: nothing of the chunk passed
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
    assert result.mode == Mode.ESTOP
    _assert_stop_at(hold, [0.0, 0.0, 0.02])
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
    assert result.mode == Mode.TELEOP
    np.testing.assert_allclose(hold.trajectory.positions[0], arbiter.commanded.positions[0])  # from 0.2 s
    _assert_stop_at(hold, hold.trajectory.positions[-1])
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
                            (JOINTS, [0, 0, 0], [0.0]), (JOINTS, [1e6, 0, 0], []),
                            (JOINTS, [0, 0, 0.02], [0.0, math.inf, 0.0])):
        arbiter.on_joint_state(1.0, names, pos, vel)
    arbiter.on_joint_state(math.nan, JOINTS, [0, 0, 0.02], [])
    assert arbiter.rejected_inputs == 7 and arbiter.states.latest.stamp_s == 0.0
    assert "joint state ignored" in arbiter.reason


def test_stop_from_a_measured_state_is_clamped_into_bounds():
    arbiter = _arbiter()
    arbiter.on_joint_state(10.0, JOINTS, [2.005, 0.0, 0.02], [])  # within the sensor tolerance past 2.0
    _, (hold,) = arbiter.request_mode(Mode.HOLD, "stop", 10.0)
    _assert_stop_at(hold, [2.0, 0.0, 0.02])
    assert np.max(np.abs(hold.trajectory.positions - [2.005, 0.0, 0.02])) <= 0.005 + 1e-12


def test_to_matrix_reorders_and_validates():
    np.testing.assert_array_equal(to_matrix(["b", "a"], [[1, 2]], ["a", "b"]), [[2, 1]])
    with pytest.raises(ValueError, match="duplicate"):
        to_matrix(["a", "a"], [[1, 2]], ["a"])


# -- issue 24: every field validated, controlled stops, measured states, seam blending ------------
@pytest.mark.parametrize("dt, words", [(2.0 ** 32 + 0.1, "dt_s=4294967296.1 outside"), (1e9, "dt_s=1000000000.0"),
                                       (1e-10, "dt_s=1e-10 outside"), (math.inf, "not a finite")])
def test_unbounded_dt_rejected_whole(dt, words):
    arbiter = _arbiter()
    rows = [[0.0, 0.0, 0.02], [0.0, 0.0, 0.02], [0.6, 0.0, 0.02]]  # 0.6 rad in one step of dt
    (stop,) = arbiter.on_policy_chunk(PolicyChunk(0.0, JOINTS, rows, dt), now_s=0.05)
    assert arbiter.modes.mode == Mode.HOLD and words in arbiter.reason, arbiter.reason
    _assert_stop_at(stop, [0.0, 0.0, 0.02])


@pytest.mark.parametrize("field, words", [
    ({"trajectory_names": ("b", "a", "grip")}, "disagree with trajectory.joint_names"),
    ({"step_times_s": [0.0, 0.1, 0.25]}, "points[2].time_from_start=0.25 s disagrees"),
    ({"step_times_s": [0.0, 0.1]}, "2 time_from_start values for 3 points"),
    ({"actions": [[math.nan, 0.0, 0.02], [0.0, 0.0, 0.02], [0.0, 0.0, 0.02]]}, "non-finite position nan for joint a at step 0"),
    ({"execute_steps": -1}, "execute_steps"),
    ({"stamp_s": -5.0}, "header.stamp"),
])
def test_inconsistent_chunk_fields_rejected_whole(field, words):
    arbiter = _arbiter()
    chunk = PolicyChunk(0.0, JOINTS, [[0.0, 0.0, 0.02]] * 3, DT, step_times_s=[0.0, 0.1, 0.2])
    arbiter.on_policy_chunk(dataclasses.replace(chunk, **field), now_s=0.15)  # row 0 is already past
    assert arbiter.modes.mode == Mode.HOLD and words in arbiter.reason, arbiter.reason


def test_teleop_times_bounded_and_increasing():
    arbiter = _arbiter(Mode.TELEOP)
    for times in ([0.1, 0.1 + 1e-10], [1e9], [math.nan], [-0.1]):
        assert arbiter.on_teleop_trajectory(JOINTS, [[0.0, 0.0, 0.02]] * len(times), times, 0.0, 1.0) == []
    assert arbiter.rejected_teleop == 4 and arbiter.modes.mode == Mode.TELEOP


def test_implausible_measured_states_never_become_targets():
    arbiter = _arbiter(Mode.TELEOP)
    arbiter.on_joint_state(1.0, JOINTS, [2.2, 0.0, 0.02], [])  # 0.2 rad past a's bound: a sensor fault
    assert "implausible" in arbiter.reason and "joint a" in arbiter.reason and "0.2 outside" in arbiter.reason
    arbiter.on_joint_state(1.0, JOINTS, [0.0, 0.0, 0.02], [])
    arbiter.on_joint_state(1.01, JOINTS, [1.0, 0.0, 0.02], [])  # 1 rad in 10 ms: faster than a can move
    assert "jump" in arbiter.reason and arbiter.rejected_inputs == 2
    _, (stop,) = arbiter.request_mode(Mode.HOLD, "x", 1.02)
    _assert_stop_at(stop, [0.0, 0.0, 0.02])  # at the last plausible state, nothing moved
    for k in range(3):  # a real jump (a re-homed sensor, a sim reset) is confirmed by consecutive readings
        arbiter.on_joint_state(1.02 + 0.01 * k, JOINTS, [1.0, 0.0, 0.02], [])
    np.testing.assert_allclose(arbiter.states.latest.positions, [1.0, 0.0, 0.02])


def test_forged_stamps_neither_pass_nor_widen_the_jump_allowance():
    arbiter = _arbiter(Mode.TELEOP)
    arbiter.on_joint_state(1.0, JOINTS, [0.0, 0.0, 0.02], [], now_s=1.0)
    arbiter.on_joint_state(3601.0, JOINTS, [1.0, 0.0, 0.02], [], now_s=1.01)  # an hour ahead of the clock
    assert "in the future" in arbiter.reason
    # stamped 0.45 s after the last reading (within the allowed clock skew) but arriving 10 ms later:
    # 1 rad is judged against the 10 ms between arrivals, not the 0.45 s the stamps claim
    arbiter.on_joint_state(1.45, JOINTS, [1.0, 0.0, 0.02], [], now_s=1.01)
    assert "jump" in arbiter.reason
    np.testing.assert_allclose(arbiter.states.latest.positions, [0.0, 0.0, 0.02])


def test_measured_slightly_outside_bounds_never_locks_the_arm():
    arbiter = _arbiter(Mode.TELEOP)
    arbiter.on_joint_state(1.0, JOINTS, [0.0, 0.0, 0.048], [])  # contact pushed the gripper 8 mm past 0.04
    assert "joint grip measured 0.048, 0.008 outside" in arbiter.reason, arbiter.reason
    (cmd,) = arbiter.on_teleop_targets(JOINTS, [0.01, 0.0, 0.03], 1.0)  # back inside: accepted
    np.testing.assert_allclose(cmd.trajectory.positions[0], [0.0, 0.0, 0.048])
    assert arbiter.on_teleop_targets(JOINTS, [0.01, 0.0, 0.048], 1.2) == []  # staying outside is not
    arbiter.on_joint_state(2.0, JOINTS, [0.01, 0.0, 0.048], [])
    arbiter.request_mode(Mode.POLICY, "go", 2.0)
    (cmd,) = arbiter.on_policy_chunk(_chunk(stamp=2.0, start=(0.01, 0.0), step=0.0), now_s=2.05)
    assert arbiter.modes.mode == Mode.POLICY and cmd.trajectory.positions[0][2] == 0.048


def test_new_chunk_joins_the_running_motion_within_the_acceleration_limit():
    limits = dataclasses.replace(LIMITS, acceleration=np.array([10.0, 10.0, np.inf]))
    arbiter = _arbiter(limits=limits, stitch=StitchConfig(latency_margin_s=0.02, min_seam_s=0.1))
    # from rest, a chunk that starts at 0.8 rad/s: unblended that is 14 rad/s^2 at the seam
    rows = [[0.08 * k, 0.0, 0.02] for k in range(16)]
    (cmd,) = arbiter.on_policy_chunk(PolicyChunk(0.0, JOINTS, rows, DT), now_s=0.05)
    traj = cmd.trajectory
    assert check_trajectory(traj.positions, traj.times_from_start_s, limits, start_velocity=np.zeros(3)) is None
    np.testing.assert_allclose(traj.positions[-6:], np.array(rows)[-6:])  # the plan itself is kept
    # the next chunk, 0.03 rad off the running plan, joins it at its velocity
    rows2 = [[0.03 + 0.08 * (k + 3), 0.0, 0.02] for k in range(16)]
    before = arbiter.commanded
    (cmd2,) = arbiter.on_policy_chunk(PolicyChunk(0.3, JOINTS, rows2, DT), now_s=0.35)
    position, velocity = before.sample(0.35)
    np.testing.assert_allclose(cmd2.trajectory.positions[0], position)
    assert check_trajectory(cmd2.trajectory.positions, cmd2.trajectory.times_from_start_s, limits,
                            start_velocity=velocity) is None
    # a chunk whose own steps break the acceleration limit is rejected whole, blending or not
    rows3 = [[0.5 + 0.05 * k if k <= 5 else 0.75 + 0.18 * (k - 5), 0.0, 0.02] for k in range(12)]
    arbiter.on_policy_chunk(PolicyChunk(0.6, JOINTS, rows3, DT), now_s=0.65)
    assert arbiter.modes.mode == Mode.HOLD and "acceleration" in arbiter.reason, arbiter.reason


def test_stop_from_moving_decelerates_within_the_limits():
    limits = dataclasses.replace(LIMITS, acceleration=np.array([10.0, 10.0, np.inf]))
    arbiter = _arbiter(limits=limits)
    rows = [[0.15 * k, -0.1 * k, 0.02] for k in range(12)]  # 1.5 rad/s
    arbiter.on_joint_state(0.0, JOINTS, [0.0, 0.0, 0.02], [1.5, -1.0, 0.0])
    arbiter.on_policy_chunk(PolicyChunk(0.0, JOINTS, rows, DT), now_s=0.05)
    _, (stop,) = arbiter.estop("button", 0.5)
    traj = stop.trajectory
    np.testing.assert_allclose(traj.start_velocity, [1.5, -1.0, 0.0])
    assert check_trajectory(traj.positions, traj.times_from_start_s, limits, start_velocity=traj.start_velocity) is None
    assert traj.times_from_start_s[-1] >= 1.5 / 10.0  # it takes v/a to stop
    np.testing.assert_allclose(traj.point_velocities()[-1], 0.0)
    assert traj.positions[-1][0] == pytest.approx(0.75 + 1.5 ** 2 / 20, abs=0.02)  # v^2 / 2a further
    # the last point holds the rest position well after the deceleration: a late stop is never dropped
    np.testing.assert_allclose(traj.positions[-1], traj.positions[-2])
    assert traj.times_from_start_s[-1] - traj.times_from_start_s[-2] == pytest.approx(
        arbiter.config.hold_time_from_start_s)
