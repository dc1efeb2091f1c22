# SPDX-License-Identifier: Apache-2.0
"""The policy node's model runner (ROS-free): model source, layout checks, plan fields."""
from __future__ import annotations

import numpy as np
import pytest

from cosmos_policy_ros.control.policy_runner import ModelSource, build_model, check_layout, load_runner
from cosmos_policy_ros.presets import load_preset


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


def test_search_depth_reaches_the_planner_and_its_reason():
    preset = load_preset("sim_arm")
    runner = load_runner(_source(num_candidates=2, num_steps=1, search_depth=2, depth_aggregation="average"), preset)
    assert (runner.planner.config.search_depth, runner.planner.config.depth_aggregation) == (2, "average")
    assert "search depth 2 (average)" in runner.describe()
    images = {c.name: np.full((48, 64, 3), 128, np.uint8) for c in preset.cameras}
    decision = runner.decide(images, np.zeros(7), "reach the block", seed=3, budget_s=60.0)
    assert "searched depth 2 of 2 (average)" in decision.plan["reason"]
