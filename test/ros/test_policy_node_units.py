# SPDX-License-Identifier: Apache-2.0
"""policy_node's ROS-free parts: observation assembly, inference schedule, model runner."""
from __future__ import annotations

import math
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from cosmos_policy_ros.presets import load_preset
from cosmos_policy_ros.ros.inference_schedule import InferenceSchedule, ScheduleConfig
from cosmos_policy_ros.ros.observation import LatestMessages, ObservationLimits
from cosmos_policy_ros.ros.policy_model import ModelSource, build_model, check_layout, load_runner

TOPICS = ("wrist_camera/image_raw", "scene_camera/image_raw", "joint_states")
LIMITS = ObservationLimits(max_age_s=0.5, max_skew_s=0.1)


def _store_all(latest: LatestMessages, stamps: dict[str, float]) -> None:
    for topic, stamp in stamps.items():
        latest.store(topic, SimpleNamespace(topic=topic), stamp)


def test_missing_topic_is_named():
    latest = LatestMessages(TOPICS)
    _store_all(latest, {"wrist_camera/image_raw": 10.0, "joint_states": 10.0})
    result = latest.assemble(10.1, LIMITS)
    assert not result.ok and "scene_camera/image_raw" in result.reason and math.isnan(result.stamp_s)


def test_stale_topic_is_named_and_fresh_observation_uses_the_oldest_stamp():
    latest = LatestMessages(TOPICS)
    _store_all(latest, {"wrist_camera/image_raw": 9.0, "scene_camera/image_raw": 10.0, "joint_states": 10.0})
    stale = latest.assemble(10.05, LIMITS)
    assert not stale.ok and stale.reason.startswith("stale wrist_camera/image_raw")
    _store_all(latest, {"wrist_camera/image_raw": 9.98})
    good = latest.assemble(10.05, LIMITS)
    assert good.ok and good.stamp_s == 9.98 and good.age_s == pytest.approx(0.07)
    assert set(good.messages) == set(TOPICS)


def test_skew_and_future_stamps_are_rejected():
    latest = LatestMessages(TOPICS)
    _store_all(latest, {"wrist_camera/image_raw": 10.0, "scene_camera/image_raw": 10.25, "joint_states": 10.3})
    skewed = latest.assemble(10.3, LIMITS)
    assert not skewed.ok and "skew" in skewed.reason and "wrist_camera" in skewed.reason
    _store_all(latest, {t: 20.0 for t in TOPICS})
    assert not latest.assemble(10.0, LIMITS).ok  # stamped 10 s in the future: a clock fault


def test_wait_for_new_needs_every_topic_to_update():
    latest = LatestMessages(TOPICS)
    _store_all(latest, {t: 1.0 for t in TOPICS})
    used = latest.assemble(1.0, LIMITS).counts
    _store_all(latest, {"joint_states": 1.01})
    assert not latest.wait_for_new(used, timeout_s=0.01)
    later = threading.Timer(0.05, _store_all, (latest, {"wrist_camera/image_raw": 1.1,
                                                        "scene_camera/image_raw": 1.1}))
    later.start()
    assert latest.wait_for_new(used, timeout_s=5.0)
    later.join()


def test_limits_and_topics_are_validated():
    with pytest.raises(ValueError, match="max_age_s"):
        ObservationLimits(max_age_s=0.0, max_skew_s=0.1)
    with pytest.raises(ValueError, match="unique"):
        LatestMessages(("a", "a"))


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


def _source(**changes) -> ModelSource:
    fields = dict(checkpoint="", allow_random_init=True, random_preset="tiny",
                  action_center=(0.0, 0.25, 1.75, 1.14, 0.0, 0.0, 0.025), action_half_range=0.005,
                  device="cpu", dtype="float32", num_steps=0, num_candidates=1, planning_mode="fast")
    return ModelSource(**{**fields, **changes})


def test_random_model_needs_explicit_permission_and_fits_the_preset():
    with pytest.raises(ValueError, match="allow_random_init"):
        _source(allow_random_init=False)
    preset = load_preset("sim_arm")
    runner = load_runner(_source(), preset)
    assert runner.random_weights and "RANDOM" in runner.status_note
    images = {c.name: np.full((48, 64, 3), 128, np.uint8) for c in preset.cameras}
    first = runner.decide(images, np.zeros(7), "reach the block", seed=3, budget_s=1.0)
    again = runner.decide(images, np.zeros(7), "reach the block", seed=3, budget_s=1.0)
    assert first.actions.shape == (preset.chunk_length, preset.num_joints)
    np.testing.assert_array_equal(first.actions, again.actions)  # same seed, same chunk
    center = np.array(_source().action_center)
    assert np.all(np.abs(first.actions - center) < 0.1)  # noise around the centre, not arbitrary
    assert first.num_candidates == 1 and first.model_ms > 0
    assert first.plan["values"] == [first.value] and first.plan["seeds"] == [3] and first.plan["num_evaluated"] == 1
    assert runner.check_instruction("anything") == ""  # hash encoder embeds any text


def test_layout_mismatch_is_reported_by_field():
    preset = load_preset("sim_arm")
    model = build_model(_source(action_center=(0.0,)), preset)
    check_layout(model.config.layout, preset)
    wrong = type(model.config.layout)(camera_names=("wrist",), proprio_dim=7, action_dim=7, chunk_length=16)
    with pytest.raises(ValueError, match="cameras"):
        check_layout(wrong, preset)


def test_plan_and_select_fills_every_plan_candidates_field():
    """N > 1 runs the real core.planning Planner; the Decision maps PlanResult onto PlanCandidates."""
    preset = load_preset("sim_arm")
    runner = load_runner(_source(num_candidates=2, num_steps=1), preset)
    assert runner.planner is not None and runner.planner.config.policy_num_steps == 1
    images = {c.name: np.full((48, 64, 3), 128, np.uint8) for c in preset.cameras}
    decision = runner.decide(images, np.zeros(7), "reach the block", seed=10, budget_s=60.0)
    plan = decision.plan
    assert set(plan) == {"values", "value_spreads", "num_value_samples", "seeds", "selected_index", "reason",
                         "num_requested", "num_evaluated", "budget_ms", "elapsed_ms", "aggregation"}
    assert plan["num_requested"] == 2 and plan["num_evaluated"] == decision.num_candidates == 2
    assert plan["seeds"] == [10, 11] and len(plan["values"]) == len(plan["value_spreads"]) == 2
    assert decision.candidate_index == plan["selected_index"]
    assert decision.value == pytest.approx(plan["values"][plan["selected_index"]])
    assert plan["budget_ms"] == pytest.approx(60_000.0) and 0 < plan["elapsed_ms"] <= decision.model_ms + 1.0
    assert all(0.0 <= v <= 1.0 for v in plan["values"]) and plan["reason"]
    assert decision.actions.shape == (preset.chunk_length, preset.num_joints)
