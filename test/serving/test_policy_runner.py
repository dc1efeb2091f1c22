# SPDX-License-Identifier: Apache-2.0
"""The policy node's model runner (ROS-free): model source, layout checks, the typed plan summary."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from cosmos_policy_ros.presets import load_preset
from cosmos_policy_ros.serving.decision import PlanSummary
from cosmos_policy_ros.serving.policy_runner import ModelSource, check_layout, checkpoint_model, load_runner
from cosmos_policy_ros.serving.random_model import RANDOM_WEIGHTS_NOTE, RandomInit, random_model

CENTER = (0.0, 0.25, 1.75, 1.14, 0.0, 0.0, 0.025)


def _source(**changes) -> ModelSource:
    fields = dict(checkpoint="", device="cpu", dtype="float32", num_steps=0, num_candidates=1, planning_mode="fast")
    return ModelSource(**{**fields, **changes})


def _random(preset, center=CENTER):
    return random_model(RandomInit("tiny", center, 0.005), preset, "cpu", "float32")


def _cameras_at(preset, size: int):
    """``preset`` with cameras that feed the model ``size`` px (the tiny model's 32)."""
    return dataclasses.replace(preset, cameras=tuple(dataclasses.replace(c, model_height=size, model_width=size)
                                                     for c in preset.cameras))


def test_random_model_is_explicit_and_fits_the_preset():
    preset = load_preset("sim_arm")
    with pytest.raises(ValueError, match="checkpoint is empty"):
        checkpoint_model(_source(), preset)  # the runner never falls back to random weights by itself
    runner = load_runner(_source(), preset, _random(preset))
    assert runner.status_note == RANDOM_WEIGHTS_NOTE and runner.model_name == "random-tiny"
    images = {c.name: np.full((48, 64, 3), 128, np.uint8) for c in preset.cameras}
    first = runner.decide(images, np.zeros(7), "reach the block", seed=3, budget_s=1.0)
    again = runner.decide(images, np.zeros(7), "reach the block", seed=3, budget_s=1.0)
    assert first.actions.shape == (preset.chunk_length, preset.num_joints)
    np.testing.assert_array_equal(first.actions, again.actions)  # same seed, same chunk
    assert np.all(np.abs(first.actions - np.array(CENTER)) < 0.1)  # noise around the centre, not arbitrary
    assert first.num_candidates == 1 and first.model_ms > 0
    assert isinstance(first.plan, PlanSummary)
    assert first.plan.values == (first.value,) and first.plan.seeds == (3,) and first.plan.num_evaluated == 1
    assert runner.check_instruction("anything") == ""  # hash encoder embeds any text


def test_layout_mismatch_is_reported_by_field():
    preset = _cameras_at(load_preset("sim_arm"), 32)
    model = _random(preset, (0.0,)).model
    check_layout(model.config.layout, preset)
    wrong = type(model.config.layout)(camera_names=("wrist",), proprio_dim=7, action_dim=7, chunk_length=16)
    with pytest.raises(ValueError, match="cameras"):
        check_layout(wrong, preset)


def test_checkpoint_of_another_image_size_is_refused_naming_both(tmp_path):
    """A tiny checkpoint trained at 32 px, served with sim_arm (224 px to the model): the loader that
    policy_node's configure runs refuses it and names both sizes; at 32 px it loads."""
    sim_arm = load_preset("sim_arm")
    folder = _random(sim_arm).model.save_pretrained(tmp_path / "tiny_32")
    assert json.loads((folder / "config.json").read_text())["layout"]["image_height"] == 32
    with pytest.raises(ValueError, match=r"image size is 32x32 .* feed the model 224x224"):
        load_runner(_source(checkpoint=str(folder)), sim_arm)
    assert load_runner(_source(checkpoint=str(folder)), _cameras_at(sim_arm, 32)).model_name == "tiny_32"


def test_ee_delta_preset_layout_has_the_ee_delta_action_columns():
    """One robot -> layout rule: an ee_delta preset's model has 7 action columns, whatever its joint count."""
    preset = dataclasses.replace(_cameras_at(load_preset("sim_arm"), 32), action_space="ee_delta",
                                 joints=load_preset("sim_arm").joints[:6], gripper_joints=(),
                                 command_groups=())
    model = _random(preset, (0.0,)).model
    assert model.config.layout.action_dim == len(preset.action_names) == 7
    assert model.config.layout.proprio_dim == 6
    check_layout(model.config.layout, preset)


def test_plan_and_select_fills_every_plan_candidates_field():
    """N > 1 runs the real core.planning Planner; the Decision maps PlanResult onto a PlanSummary."""
    preset = load_preset("sim_arm")
    runner = load_runner(_source(num_candidates=2, num_steps=1), preset, _random(preset))
    assert runner.planner is not None and runner.planner.config.policy_num_steps == 1
    images = {c.name: np.full((48, 64, 3), 128, np.uint8) for c in preset.cameras}
    decision = runner.decide(images, np.zeros(7), "reach the block", seed=10, budget_s=60.0)
    plan = decision.plan
    assert plan.num_requested == 2 and plan.num_evaluated == decision.num_candidates == 2 and not plan.fell_back
    assert plan.seeds == (10, 11) and len(plan.values) == len(plan.value_spreads) == 2
    assert decision.candidate_index == plan.selected_index
    assert decision.value == pytest.approx(plan.values[plan.selected_index])
    assert plan.budget_ms == pytest.approx(60_000.0) and 0 < plan.elapsed_ms <= decision.model_ms + 1.0
    assert all(0.0 <= v <= 1.0 for v in plan.values) and plan.reason
    assert decision.actions.shape == (preset.chunk_length, preset.num_joints)


def test_search_depth_reaches_the_planner_and_its_reason():
    preset = load_preset("sim_arm")
    runner = load_runner(_source(num_candidates=2, num_steps=1, search_depth=2, depth_aggregation="average"), preset,
                         _random(preset))
    assert (runner.planner.config.search_depth, runner.planner.config.depth_aggregation) == (2, "average")
    assert "search depth 2 (average)" in runner.describe()
    images = {c.name: np.full((48, 64, 3), 128, np.uint8) for c in preset.cameras}
    decision = runner.decide(images, np.zeros(7), "reach the block", seed=3, budget_s=60.0)
    assert "searched depth 2 of 2 (average)" in decision.plan.reason
