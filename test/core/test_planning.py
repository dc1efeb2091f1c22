# SPDX-License-Identifier: Apache-2.0
"""Planner on the tiny preset: batched == serial, N=1 == act, a known scorer is followed, budgets."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pytest
import torch

from cosmos_policy_ros.core.config import get_preset
from cosmos_policy_ros.core.layout import Role
from cosmos_policy_ros.core.model import CosmosPolicy, EncodedObservation
from cosmos_policy_ros.core.planning import Planner, PlannerConfig

INSTRUCTION = "put the cube in the bowl"
SCORER_TRIALS = 50
# Small step counts keep the tests fast; the ensemble structure (futures x values per future,
# grouped by step count, chunked) is the official one.
SMALL = dict(policy_num_steps=2, future_ensemble_size=2, future_max_num_steps=3, value_ensemble_size=3,
             value_max_num_steps=3)
# Slack for the budget test: on a loaded shared CPU one DiT call can stall for seconds; the check is
# that the planner stops, not how precisely (timings belong in bench/plan_select.py).
BUDGET_RELATIVE_SLACK = 1.2
BUDGET_ABSOLUTE_SLACK_S = 2.0


def _model(seed: int) -> CosmosPolicy:
    torch.manual_seed(seed)
    return CosmosPolicy(get_preset("tiny")).eval()


def _observation(model: CosmosPolicy, seed: int = 3) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.RandomState(seed)
    layout = model.config.layout
    images = {c: rng.randint(0, 256, (layout.image_height, layout.image_width, 3), dtype=np.uint8)
              for c in layout.camera_names}
    return images, rng.uniform(-1, 1, layout.proprio_dim)


def preferred_region_score(actions: np.ndarray) -> np.ndarray:
    """(n, K, D) -> (n,) in (0, 1): the scorer prefers chunks whose first action dimension is high."""
    return 1.0 / (1.0 + np.exp(-4.0 * actions[..., 0].mean(axis=-1)))


class ActionRegionScorer(CosmosPolicy):
    """A planner model whose value generations report ``preferred_region_score`` of the action frame
    they condition on (the DiT still runs; only the value frame is overwritten)."""

    def generate(self, encoded: EncodedObservation, role: Role, num_steps: int | None, seeds: Sequence[int],
                 condition_latents: torch.Tensor | None = None) -> torch.Tensor:
        latents = super().generate(encoded, role, num_steps, seeds, condition_latents)
        if Role(role) not in (Role.VALUE, Role.VALUE_FUTURE, Role.Q_VALUE):
            return latents
        score = preferred_region_score(self.read_actions(condition_latents))
        return self.inject(latents, value=torch.from_numpy(2.0 * score - 1.0).float())


@pytest.mark.parametrize("mode", ["full", "q_value"])
def test_batched_and_serial_planning_agree(mode: str) -> None:
    policy, planner_model = _model(0), _model(1)  # two checkpoints, as the official ALOHA set-up
    planner = Planner(policy, planner_model, PlannerConfig(mode=mode, aggregation="average", max_batch_rows=4,
                                                           **SMALL))
    images, proprio = _observation(policy)
    batched = planner.plan(images, proprio, INSTRUCTION, base_seed=195)
    serial = planner.plan_serial(images, proprio, INSTRUCTION, base_seed=195)
    assert batched.selected_index == serial.selected_index
    np.testing.assert_array_equal(batched.seeds, np.arange(195, 203))
    np.testing.assert_array_equal(batched.seeds, serial.seeds)
    np.testing.assert_allclose(batched.values, serial.values, rtol=0, atol=1e-5)
    for b, s in zip(batched.value_samples, serial.value_samples):
        np.testing.assert_allclose(b, s, rtol=0, atol=1e-5)
    np.testing.assert_allclose(batched.candidate_actions, serial.candidate_actions, rtol=0, atol=1e-5)
    expected_samples = 6 if mode == "full" else 3
    assert batched.num_evaluated == 8 and set(batched.num_value_samples) == {expected_samples}
    assert len(np.unique(batched.candidate_actions[:, 0, 0])) == 8  # diversity from the noise


def test_planning_is_deterministic_under_a_seed() -> None:
    planner = Planner(_model(0), config=PlannerConfig(**SMALL))
    images, proprio = _observation(planner.policy_model)
    first = planner.plan(images, proprio, INSTRUCTION, base_seed=7)
    again = planner.plan(images, proprio, INSTRUCTION, base_seed=7)
    other = planner.plan(images, proprio, INSTRUCTION, base_seed=8)
    np.testing.assert_array_equal(first.candidate_actions, again.candidate_actions)
    np.testing.assert_array_equal(first.values, again.values)
    np.testing.assert_array_equal(first.candidate_actions[1], other.candidate_actions[0])  # seed 8 both


def test_single_candidate_is_the_plain_policy() -> None:
    model = _model(0)
    images, proprio = _observation(model)
    planner = Planner(model, config=PlannerConfig(num_candidates=1, policy_num_steps=3))
    result = planner.plan(images, proprio, INSTRUCTION, base_seed=5)
    direct = model.act(images, proprio, INSTRUCTION, seed=5, num_steps=3)
    np.testing.assert_allclose(result.actions, direct.actions, rtol=0, atol=1e-6)
    assert result.num_evaluated == 1 and result.selected_index == 0 and "plain policy" in result.reason
    assert result.num_value_samples.tolist() == [1] and set(result.timing_ms) == {"encode", "policy", "total"}


@pytest.mark.parametrize("mode", ["full", "fast", "q_value"])
def test_planner_picks_the_candidate_a_known_scorer_prefers(mode: str) -> None:
    policy = _model(0)
    scorer = ActionRegionScorer(get_preset("tiny")).eval()
    planner = Planner(policy, scorer, PlannerConfig(mode=mode, **SMALL))
    images, proprio = _observation(policy)
    result = planner.plan(images, proprio, INSTRUCTION, base_seed=0)
    true_scores = preferred_region_score(result.candidate_actions)
    assert result.selected_index == int(np.argmax(true_scores))
    np.testing.assert_allclose(result.values, true_scores, atol=1e-5)  # all samples agree: majority mean
    assert np.all(result.value_spreads < 1e-5)


def test_best_of_eight_beats_one_over_seeded_trials() -> None:
    policy = _model(0)
    scorer = ActionRegionScorer(get_preset("tiny")).eval()
    best_of_8 = Planner(policy, scorer, PlannerConfig(mode="fast", policy_num_steps=2))
    single = Planner(policy, scorer, PlannerConfig(mode="fast", policy_num_steps=2, num_candidates=1))
    images, proprio = _observation(policy)
    encoded = policy.encode_observation(images, proprio, INSTRUCTION)
    picked, plain = [], []
    for trial in range(SCORER_TRIALS):
        base_seed = 1000 * trial
        picked.append(preferred_region_score(best_of_8.plan_encoded(encoded, base_seed).actions[None]))
        plain.append(preferred_region_score(single.plan_encoded(encoded, base_seed).actions[None]))
    picked, plain = np.concatenate(picked), np.concatenate(plain)
    assert np.all(picked >= plain - 1e-6)  # candidate 0 is N=1's chunk, so N=8 never does worse
    assert picked.mean() > plain.mean(), (picked.mean(), plain.mean())


def test_low_value_calls_for_teleop() -> None:
    policy = _model(0)
    planner = Planner(policy, ActionRegionScorer(get_preset("tiny")).eval(),
                      PlannerConfig(mode="fast", policy_num_steps=2, teleop_value_threshold=1.0))
    images, proprio = _observation(policy)
    result = planner.plan(images, proprio, INSTRUCTION, base_seed=0)
    assert result.call_for_teleop and "call for teleop" in result.reason


def test_budget_too_small_for_eight_returns_fewer_candidates_in_time() -> None:
    planner = Planner(_model(0), config=PlannerConfig(**SMALL))
    images, proprio = _observation(planner.policy_model)
    planner.plan(images, proprio, INSTRUCTION, base_seed=0)  # measures its own costs
    budget_s = 0.4 * planner.estimate_s(8)
    result = planner.plan(images, proprio, INSTRUCTION, base_seed=0, budget_s=budget_s)
    assert 1 <= result.num_evaluated < 8 and result.num_requested == 8
    assert f"evaluated {result.num_evaluated} of 8 candidates" in result.reason
    assert result.elapsed_s <= BUDGET_RELATIVE_SLACK * budget_s + BUDGET_ABSOLUTE_SLACK_S
    assert result.budget_s == budget_s and result.actions.shape == result.candidate_actions.shape[1:]


def test_deadline_mid_way_returns_the_candidates_generated_so_far() -> None:
    planner = Planner(_model(0), config=PlannerConfig(**SMALL))  # fresh: no cost measured yet
    images, proprio = _observation(planner.policy_model)
    result = planner.plan(images, proprio, INSTRUCTION, base_seed=0, budget_s=1e-3)
    assert result.num_evaluated == 8 and result.num_value_samples.tolist() == [1] * 8
    assert "exhausted in the future stage" in result.reason and "policy sample's own value" in result.reason
    tiny_budget = planner.plan(images, proprio, INSTRUCTION, base_seed=0, budget_s=1e-3)  # now measured
    assert tiny_budget.num_evaluated == 1 and "fits 1 of 8" in tiny_budget.reason


def test_planner_model_must_share_the_layout() -> None:
    other = CosmosPolicy(get_preset("tiny").replace(
        layout=get_preset("tiny").layout.__class__(camera_names=("wrist",), proprio_dim=4, action_dim=3,
                                                   chunk_length=4, image_height=32, image_width=32)))
    with pytest.raises(ValueError, match="layout"):
        Planner(_model(0), other)
