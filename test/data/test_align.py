# SPDX-License-Identifier: Apache-2.0
"""Nearest-before sampling and the commanded reference at control ticks, on synthetic streams."""
import numpy as np
import pytest

from cosmos_policy_ros.data.align import (CommandedTrajectories, commanded_reference, control_ticks,
                                          nearest_before)
from cosmos_policy_ros.sim.trajectory_follower import TrajectoryCommand, TrajectoryFollower


def test_nearest_before_picks_newest_not_after_tick_within_skew():
    stamps = np.array([0, 10, 20, 50])
    idx, ok = nearest_before(stamps, np.array([-1, 0, 15, 20, 45, 60]), max_skew_ns=12)
    assert idx.tolist() == [0, 0, 1, 2, 2, 3]
    assert ok.tolist() == [False, True, True, True, False, True]


def test_nearest_before_empty_stream_is_invalid():
    _, ok = nearest_before(np.zeros(0, np.int64), np.array([1, 2]), 10)
    assert not ok.any()


def test_control_ticks_cover_span_inclusive():
    ticks = control_ticks(1_000, 1_000 + 1_000_000_000, rate_hz=10.0)
    assert len(ticks) == 11
    assert ticks[-1] == 1_000 + 1_000_000_000


def _two_trajectories() -> CommandedTrajectories:
    # A received at 0: points at 100, 200; B received at 150: points at 250, 350;
    # C received at 400 with its only point at 300 (all past: rejected, B goes on)
    return CommandedTrajectories(
        receive_ns=np.array([0, 150, 400]), point_offsets=np.array([0, 2, 4, 5]),
        point_time_ns=np.array([100, 200, 250, 350, 300]),
        positions=np.array([[1.0], [2.0], [3.0], [4.0], [9.0]]))


def test_action_is_the_reference_the_controller_tracks_at_the_tick():
    targets, ok = commanded_reference(_two_trajectories(), np.array([-5, 0, 100, 125, 150, 200, 250, 300, 999]))
    assert ok.tolist() == [False] + [True] * 8
    # A: first point held before it, then linear; B starts from A's reference at its receipt (1.5)
    np.testing.assert_allclose(targets[1:, 0], [1.0, 1.0, 1.25, 1.5, 1.5 + 1.5 * 50 / 100, 3.0, 3.5, 4.0])


def test_reference_matches_the_jtc_like_follower_for_a_teleop_with_lead():
    # a teleop sending, every 0.1 s, a target due 0.4 s later (the scripted expert's habit)
    rng = np.random.default_rng(0)
    receive_s = np.arange(0.0, 2.0, 0.1) + rng.uniform(0.0, 0.02, 20)
    targets = np.cumsum(rng.normal(0.0, 0.1, (20, 2)), axis=0)
    commands = CommandedTrajectories(np.round(receive_s * 1e9).astype(np.int64), np.arange(21),
                                     np.round((receive_s + 0.4) * 1e9).astype(np.int64), targets)
    ticks_s = np.arange(0.05, 2.5, 0.1)
    actions, ok = commanded_reference(commands, np.round(ticks_s * 1e9).astype(np.int64))
    follower = TrajectoryFollower(("a", "b"), targets[0])
    expected, k = [], 0
    for tick in ticks_s:
        while k < len(receive_s) and receive_s[k] <= tick:
            follower.command(TrajectoryCommand(("a", "b"), np.array([0.4]), targets[k:k + 1]), receive_s[k])
            k += 1
        expected.append(follower.sample(tick).positions)
    assert ok.all()
    np.testing.assert_allclose(actions, np.array(expected), atol=1e-6)
    assert np.abs(actions[4:8] - targets[4:8]).max() > 0.05  # not the targets themselves: they lead


def test_no_commands_means_no_valid_tick():
    empty = CommandedTrajectories(np.zeros(0, np.int64), np.array([0]), np.zeros(0, np.int64),
                                  np.zeros((0, 3)))
    targets, ok = commanded_reference(empty, np.array([1, 2]))
    assert targets.shape == (2, 3) and not ok.any()


def test_trajectory_without_points_is_rejected():
    with pytest.raises(ValueError, match="at least one point"):
        CommandedTrajectories(np.array([0]), np.array([0, 0]), np.zeros(0, np.int64), np.zeros((0, 1)))
