# SPDX-License-Identifier: Apache-2.0
"""Chunk anchoring at the observation stamp, dropping past steps, deadline misses, the seam."""
from __future__ import annotations

import numpy as np
import pytest

from cosmos_policy_ros.control.stitching import (
    DeadlineMissError,
    StitchConfig,
    StitchedTrajectory,
    stitch_chunk,
    stitch_steps,
)

DT = 0.1
CFG = StitchConfig(latency_margin_s=0.02, max_stamp_ahead_s=0.5, min_seam_s=0.0)


def _chunk(h: int = 8, d: int = 2) -> np.ndarray:
    return np.arange(h * d, dtype=np.float64).reshape(h, d) * 0.01


def test_steps_anchored_to_observation_and_past_dropped():
    t_obs, now = 100.0, 100.25  # steps 0..2 are past; step 3 (100.30) is 0.05 s ahead > 0.02 margin
    seam = np.array([5.0, 6.0])
    traj = stitch_chunk(_chunk(), t_obs, DT, now, seam, CFG)
    assert traj.stamp_s == t_obs
    assert traj.first_step_index == 3
    np.testing.assert_allclose(traj.times_from_start_s, [0.25, 0.3, 0.4, 0.5, 0.6, 0.7])
    np.testing.assert_allclose(traj.positions[1:], _chunk()[3:])
    # absolute time of every kept step is t_obs + k * dt
    np.testing.assert_allclose(traj.stamp_s + traj.times_from_start_s[1:], t_obs + np.arange(3, 8) * DT)


def test_latency_margin_drops_steps_due_too_soon():
    traj = stitch_chunk(_chunk(), 100.0, DT, 100.29, np.zeros(2), CFG)  # step 3 due in 0.01 s < margin
    assert traj.first_step_index == 4


def test_min_seam_gives_the_chunk_seam_at_least_that_long_and_leaves_teleop_alone():
    config = StitchConfig(latency_margin_s=0.02, max_stamp_ahead_s=0.5, min_seam_s=0.1)
    traj = stitch_chunk(_chunk(), 100.0, DT, 100.25, np.zeros(2), config)  # step 3 due in 0.05 s < 0.1
    assert traj.first_step_index == 4 and traj.times_from_start_s[1] - traj.times_from_start_s[0] >= 0.1
    teleop = stitch_steps(_chunk(), np.arange(8) * DT, 100.0, 100.25, np.zeros(2), config)
    assert teleop.first_step_index == 3  # teleop keeps the latency margin only


def test_seam_is_current_state_at_now_without_jump():
    seam = np.array([0.3, -0.2])
    traj = stitch_chunk(_chunk(), 50.0, DT, 50.05, seam, CFG)
    np.testing.assert_array_equal(traj.positions[0], seam)
    assert traj.start_time_s == pytest.approx(50.05)
    position, _ = traj.sample(50.05)
    np.testing.assert_allclose(position, seam)  # the command at the seam is where the arm is


def test_all_steps_past_is_deadline_miss():
    with pytest.raises(DeadlineMissError, match="over budget"):
        stitch_chunk(_chunk(), 100.0, DT, 100.75, np.zeros(2), CFG)  # last step due at 100.7


def test_future_stamp_reanchored_and_far_future_rejected():
    traj = stitch_chunk(_chunk(), 10.2, DT, 10.0, np.zeros(2), CFG)
    assert traj.stamp_s == 10.0 and traj.times_from_start_s[0] == 0.0
    np.testing.assert_allclose(traj.stamp_s + traj.times_from_start_s[1:], 10.2 + np.arange(8) * DT)
    with pytest.raises(ValueError, match="future"):
        stitch_chunk(_chunk(), 20.0, DT, 10.0, np.zeros(2), CFG)


@pytest.mark.parametrize("dt", [0.0, -0.1, float("nan"), float("inf")])
def test_bad_dt_rejected(dt):
    with pytest.raises(ValueError, match="dt_s"):
        stitch_chunk(_chunk(), 1.0, dt, 1.0, np.zeros(2), CFG)


def test_bad_shapes_rejected():
    with pytest.raises(ValueError, match="seam shape"):
        stitch_chunk(_chunk(), 1.0, DT, 1.0, np.zeros(3), CFG)
    with pytest.raises(ValueError, match="shape"):
        stitch_chunk(np.zeros((0, 2)), 1.0, DT, 1.0, np.zeros(2), CFG)
    with pytest.raises(ValueError, match="non-finite"):
        stitch_steps(_chunk(), np.full(8, np.nan), 1.0, 1.0, np.zeros(2), CFG)


def test_sample_interpolates_and_holds_at_ends():
    traj = StitchedTrajectory(stamp_s=1.0, positions=np.array([[0.0], [1.0], [3.0]]),
                              times_from_start_s=np.array([0.0, 1.0, 2.0]), first_step_index=0)
    pos, vel = traj.sample(2.5)
    assert pos[0] == pytest.approx(2.0) and vel[0] == pytest.approx(2.0)
    assert traj.sample(0.0)[0][0] == 0.0 and traj.sample(5.0)[0][0] == 3.0 and traj.sample(5.0)[1][0] == 0.0
    assert traj.end_time_s == 3.0


def test_config_validation_names_field():
    with pytest.raises(ValueError, match="latency_margin_s"):
        StitchConfig(latency_margin_s=-1.0)
