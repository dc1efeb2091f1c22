# SPDX-License-Identifier: Apache-2.0
"""Nearest-before sampling and commanded-target lookup on synthetic streams."""
import numpy as np
import pytest

from cosmos_policy_ros.data.align import (CommandedTrajectories, commanded_targets, control_ticks,
                                          nearest_before)


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
    # trajectory A received at 0: points at 100, 200; trajectory B received at 150: points at 250, 350
    return CommandedTrajectories(
        receive_ns=np.array([0, 150]), point_offsets=np.array([0, 2, 4]),
        point_time_ns=np.array([100, 200, 250, 350]),
        positions=np.array([[1.0], [2.0], [3.0], [4.0]]))


def test_commanded_target_is_next_waypoint_of_active_trajectory():
    targets, ok = commanded_targets(_two_trajectories(), np.array([-5, 0, 100, 101, 149, 150, 300, 999]))
    assert ok.tolist() == [False] + [True] * 7
    # before B: A's next waypoint (held after its end); from 150 on: B's
    assert targets[1:, 0].tolist() == [1.0, 1.0, 2.0, 2.0, 3.0, 4.0, 4.0]


def test_no_commands_means_no_valid_tick():
    empty = CommandedTrajectories(np.zeros(0, np.int64), np.array([0]), np.zeros(0, np.int64),
                                  np.zeros((0, 3)))
    targets, ok = commanded_targets(empty, np.array([1, 2]))
    assert targets.shape == (2, 3) and not ok.any()


def test_trajectory_without_points_is_rejected():
    with pytest.raises(ValueError, match="at least one point"):
        CommandedTrajectories(np.array([0]), np.array([0, 0]), np.zeros(0, np.int64), np.zeros((0, 1)))
