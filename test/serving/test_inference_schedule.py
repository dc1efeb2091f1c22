# SPDX-License-Identifier: Apache-2.0
"""The policy node's inference schedule (ROS-free)."""
from __future__ import annotations

import math

import pytest

from cosmos_policy_ros.serving.inference_schedule import InferenceSchedule, ScheduleConfig


def test_schedule_starts_so_the_next_chunk_lands_before_the_horizon():
    schedule = InferenceSchedule(ScheduleConfig(horizon_s=0.8, margin_s=0.1, latency_decay=0.5))
    assert schedule.next_start_s() == -math.inf  # first chunk: start at once
    assert not schedule.on_published(observation_stamp_s=100.0, published_s=100.2)
    assert schedule.next_start_s() == pytest.approx(100.0 + 0.8 - 0.2 - 0.1)
    assert schedule.on_published(observation_stamp_s=100.5, published_s=101.0)  # after 100.8: a miss
    assert schedule.deadline_misses == 1 and schedule.expected_latency_s == pytest.approx(0.5)
    schedule.on_published(observation_stamp_s=101.1, published_s=101.2)  # fast again: latency decays
    assert schedule.expected_latency_s == pytest.approx(0.5 * 0.5 + 0.5 * 0.1)
    schedule.reset()
    assert schedule.next_start_s() == -math.inf


