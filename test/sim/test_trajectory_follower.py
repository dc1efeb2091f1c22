# SPDX-License-Identifier: Apache-2.0
"""joint_trajectory_controller semantics of the ROS-free TrajectoryFollower."""
from __future__ import annotations

import numpy as np
import pytest

from cosmos_policy_ros.sim.trajectory_follower import (
    FollowerConfig,
    TrajectoryCommand,
    TrajectoryFollower,
)

JOINTS = ("a", "b", "c")


def _follower(**config: bool) -> TrajectoryFollower:
    return TrajectoryFollower(JOINTS, np.zeros(3), FollowerConfig(**config))


def _cmd(times, positions, names=JOINTS, start=None, velocities=None) -> TrajectoryCommand:
    return TrajectoryCommand(tuple(names), np.asarray(times, float), np.asarray(positions, float),
                             None if velocities is None else np.asarray(velocities, float), start)


def test_holds_initial_positions_without_command():
    follower = TrajectoryFollower(JOINTS, np.array([0.1, 0.2, 0.3]))
    np.testing.assert_allclose(follower.sample(5.0).positions, [0.1, 0.2, 0.3])


def test_linear_interpolation_from_reference_at_receipt_and_hold_at_end():
    follower = _follower()
    result = follower.command(_cmd([1.0, 2.0], [[1, 0, 0], [1, 2, 0]]), now_s=10.0)
    assert result.accepted, result.reason
    np.testing.assert_allclose(follower.sample(10.5).positions, [0.5, 0, 0])
    np.testing.assert_allclose(follower.sample(11.0).positions, [1, 0, 0])
    np.testing.assert_allclose(follower.sample(11.5).positions, [1, 1, 0])
    np.testing.assert_allclose(follower.sample(11.5).velocities, [0, 2, 0])
    np.testing.assert_allclose(follower.sample(99.0).positions, [1, 2, 0])
    np.testing.assert_allclose(follower.sample(99.0).velocities, [0, 0, 0])


def test_stamped_start_times_points_from_the_stamp():
    follower = _follower()
    assert follower.command(_cmd([1.0], [[2, 0, 0]], start=20.0), now_s=10.0).accepted
    # From the reference at receipt (t=10) to the point due at 21 s.
    np.testing.assert_allclose(follower.sample(15.5).positions, [1, 0, 0])
    np.testing.assert_allclose(follower.sample(21.0).positions, [2, 0, 0])


def test_past_points_are_skipped_and_interpolation_starts_at_now():
    follower = _follower()
    result = follower.command(_cmd([1.0, 2.0, 4.0], [[9, 9, 9], [9, 9, 9], [3, 0, 0]], start=0.0),
                              now_s=3.0)
    assert result.accepted and "skipped 2" in result.reason
    np.testing.assert_allclose(follower.sample(3.0).positions, [0, 0, 0])
    np.testing.assert_allclose(follower.sample(3.5).positions, [1.5, 0, 0])


def test_all_points_in_past_is_rejected_and_current_trajectory_continues():
    follower = _follower()
    assert follower.command(_cmd([2.0], [[2, 0, 0]]), now_s=0.0).accepted
    result = follower.command(_cmd([1.0], [[5, 5, 5]], start=0.0), now_s=1.5)
    assert not result.accepted and "past" in result.reason
    np.testing.assert_allclose(follower.sample(2.0).positions, [2, 0, 0])


def test_new_command_replaces_without_jump():
    follower = _follower()
    assert follower.command(_cmd([2.0], [[2, 0, 0]]), now_s=0.0).accepted
    before = follower.sample(1.0).positions
    assert follower.command(_cmd([1.0], [[0, 1, 0]]), now_s=1.0).accepted
    np.testing.assert_allclose(follower.sample(1.0).positions, before)
    np.testing.assert_allclose(follower.sample(1.5).positions, [0.5, 0.5, 0])


def test_cubic_with_velocities_matches_endpoints_and_velocities():
    follower = _follower()
    cmd = _cmd([1.0, 2.0], [[1, 0, 0], [2, 0, 0]], velocities=[[1, 0, 0], [0, 0, 0]])
    assert follower.command(cmd, now_s=0.0).accepted
    np.testing.assert_allclose(follower.sample(1.0).velocities, [1, 0, 0], atol=1e-9)
    np.testing.assert_allclose(follower.sample(1.0).positions, [1, 0, 0], atol=1e-9)
    np.testing.assert_allclose(follower.sample(2.0 - 1e-9).velocities, [0, 0, 0], atol=1e-6)
    mid = follower.sample(0.5).positions[0]
    assert 0.0 < mid < 1.0 and mid != pytest.approx(0.5)  # a cubic, not a line


def test_partial_joint_set_holds_other_joints():
    follower = TrajectoryFollower(JOINTS, np.array([0.0, 0.7, 0.0]))
    assert follower.command(_cmd([1.0], [[1.0]], names=("c",)), now_s=0.0).accepted
    np.testing.assert_allclose(follower.sample(1.0).positions, [0, 0.7, 1.0])
    strict = _follower(allow_partial_joints_goal=False)
    assert not strict.command(_cmd([1.0], [[1.0]], names=("c",)), now_s=0.0).accepted


def test_empty_command_holds_current_reference():
    follower = _follower()
    assert follower.command(_cmd([2.0], [[2, 0, 0]]), now_s=0.0).accepted
    result = follower.command(_cmd(np.zeros(0), np.zeros((0, 3))), now_s=1.0)
    assert result.accepted and "hold" in result.reason
    np.testing.assert_allclose(follower.sample(5.0).positions, [1, 0, 0])


@pytest.mark.parametrize("cmd, why", [
    (_cmd([1.0], [[1, 0, 0]], names=("a", "b", "x")), "unknown joint"),
    (_cmd([1.0], [[1, 0, 0]], names=("a", "a", "b")), "duplicate"),
    (_cmd([1.0], [[1, 0]]), "shape"),
    (_cmd([1.0], [[1, np.nan, 0]]), "non-finite positions"),
    (_cmd([1.0], [[1, 0, 0]], velocities=[[np.inf, 0, 0]]), "non-finite velocities"),
    (_cmd([1.0], [[1, 0, 0]], velocities=[[0, 0]]), "velocities have shape"),
    (_cmd([1.0, 1.0], [[1, 0, 0], [2, 0, 0]]), "strictly increase"),
    (_cmd([np.nan], [[1, 0, 0]]), "finite"),
    (_cmd([1.0], [[1, 0, 0]], start=float("nan")), "start time"),
])
def test_invalid_commands_are_rejected_and_arm_holds(cmd, why):
    follower = TrajectoryFollower(JOINTS, np.array([0.1, 0.2, 0.3]))
    result = follower.command(cmd, now_s=0.0)
    assert not result.accepted
    assert why in result.reason
    np.testing.assert_allclose(follower.sample(3.0).positions, [0.1, 0.2, 0.3])


def test_reset_drops_trajectory():
    follower = _follower()
    assert follower.command(_cmd([1.0], [[1, 1, 1]]), now_s=0.0).accepted
    follower.reset(np.array([0.5, 0.5, 0.5]))
    np.testing.assert_allclose(follower.sample(0.5).positions, [0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="finite"):
        follower.reset(np.array([0.0, np.nan, 0.0]))


def _largest_velocity_step(follower: TrajectoryFollower, commands, t_end: float, step_s: float = 1e-3) -> float:
    """Largest change of the reference velocity between samples ``step_s`` apart, feeding ``commands``
    ((receipt time, TrajectoryCommand) in order) as the sim node would."""
    pending, previous, largest = list(commands), None, 0.0
    for now in np.arange(0.0, t_end, step_s):
        while pending and pending[0][0] <= now:
            assert follower.command(pending.pop(0)[1], now).accepted
        velocity = follower.sample(now).velocities
        if previous is not None:
            largest = max(largest, float(np.max(np.abs(velocity - previous))))
        previous = velocity
    return largest


@pytest.mark.parametrize("with_velocities", [True, False])
def test_arbiter_velocities_give_continuous_velocity_across_points_and_seams(with_velocities):
    """Issue 18 item 4: the arbiter's points carry velocities (the last one zero) and the follower,
    like JTC, interpolates cubically: the commanded velocity is continuous across points and across
    the seam where the next chunk replaces the trajectory. With positions only (linear, JTC's
    discouraged mode) it jumps at every point."""
    from cosmos_policy_ros.control.action_spaces import ActionSpaceConverter
    from cosmos_policy_ros.control.arbitration import Arbiter, ArbiterConfig, PolicyChunk
    from cosmos_policy_ros.control.limits import JointLimits, LimitArrays
    from cosmos_policy_ros.control.modes import Mode

    limits = LimitArrays.from_limits({j: JointLimits(-3.0, 3.0, velocity=2.0, acceleration=10.0) for j in JOINTS},
                                     JOINTS)
    arbiter = Arbiter(ArbiterConfig(limits=limits, start_mode=Mode.POLICY), ActionSpaceConverter("joint_position", JOINTS))
    arbiter.on_joint_state(0.0, JOINTS, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    commands = []
    for k, stamp in enumerate([0.0, 0.4, 0.8]):  # a chunk every 0.4 s, each a sine the next one revises
        rows = [[0.3 * np.sin(0.8 * (stamp + 0.1 * i)) + 0.01 * k, 0.2 * (stamp + 0.1 * i), 0.0] for i in range(16)]
        (cmd,) = arbiter.on_policy_chunk(PolicyChunk(stamp, JOINTS, rows, 0.1), now_s=stamp + 0.05)
        traj = cmd.trajectory
        commands.append((stamp + 0.05, TrajectoryCommand(
            JOINTS, traj.times_from_start_s, traj.positions,
            traj.point_velocities() if with_velocities else None, start_time_s=traj.stamp_s)))
        np.testing.assert_allclose(traj.point_velocities()[-1], 0.0)  # JTC's default end condition
    largest = _largest_velocity_step(_follower(), commands, t_end=2.5)
    if with_velocities:
        assert largest < 0.02  # 1 ms at the 10 rad/s^2 limit moves the velocity by 0.01
    else:
        assert largest > 0.1
