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
from planner_clock import ClockedModel, PlannerClock

INSTRUCTION = "put the cube in the bowl"
SCORER_TRIALS = 50
# Small step counts keep the tests fast; the ensemble structure (futures x values per future,
# grouped by step count, chunked) is the official one.
SMALL = dict(policy_num_steps=2, future_ensemble_size=2, future_max_num_steps=3, value_ensemble_size=3,
             value_max_num_steps=3)


def _model(seed: int) -> CosmosPolicy:
    torch.manual_seed(seed)
    return CosmosPolicy(get_preset("tiny")).eval()



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
    images, proprio = policy.config.layout.fake_observation(3)
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
    images, proprio = planner.policy_model.config.layout.fake_observation(3)
    first = planner.plan(images, proprio, INSTRUCTION, base_seed=7)
    again = planner.plan(images, proprio, INSTRUCTION, base_seed=7)
    other = planner.plan(images, proprio, INSTRUCTION, base_seed=8)
    np.testing.assert_array_equal(first.candidate_actions, again.candidate_actions)
    np.testing.assert_array_equal(first.values, again.values)
    np.testing.assert_array_equal(first.candidate_actions[1], other.candidate_actions[0])  # seed 8 both


def test_single_candidate_is_the_plain_policy() -> None:
    model = _model(0)
    images, proprio = model.config.layout.fake_observation(3)
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
    images, proprio = policy.config.layout.fake_observation(3)
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
    images, proprio = policy.config.layout.fake_observation(3)
    encoded = policy.encode_observation(images, proprio, INSTRUCTION)
    picked, plain = [], []
    for trial in range(SCORER_TRIALS):
        base_seed = 1000 * trial
        picked.append(preferred_region_score(best_of_8.plan_encoded(encoded, base_seed).actions[None]))
        plain.append(preferred_region_score(single.plan_encoded(encoded, base_seed).actions[None]))
    picked, plain = np.concatenate(picked), np.concatenate(plain)
    assert np.all(picked >= plain - 1e-6)  # candidate 0 is N=1's chunk, so N=8 never does worse
    assert picked.mean() > plain.mean(), (picked.mean(), plain.mean())


def test_budget_too_small_for_eight_returns_fewer_candidates_in_time(monkeypatch) -> None:
    """On the DiT-cost clock the planner stays within its budget, and evaluates fewer candidates than
    the unbudgeted plan (which costs 2.5x the budget: an overrun cannot hide in slack)."""
    clock = PlannerClock().install(monkeypatch)
    torch.manual_seed(0)
    model = ClockedModel(get_preset("tiny")).eval()
    model.clock = clock
    planner = Planner(model, config=PlannerConfig(**SMALL))
    images, proprio = planner.policy_model.config.layout.fake_observation(3)
    unbudgeted = planner.plan(images, proprio, INSTRUCTION, base_seed=0)  # measures its own costs
    budget_s = 0.4 * planner.estimate_s(8)
    result = planner.plan(images, proprio, INSTRUCTION, base_seed=0, budget_s=budget_s)
    assert unbudgeted.num_evaluated == 8 and unbudgeted.elapsed_s > 2 * budget_s
    assert 1 <= result.num_evaluated < 8 and result.num_requested == 8
    assert f"evaluated {result.num_evaluated} of 8 candidates" in result.reason
    assert 0 < result.elapsed_s <= budget_s, (result.elapsed_s, budget_s)
    assert result.budget_s == budget_s and result.actions.shape == result.candidate_actions.shape[1:]


def test_deadline_mid_way_returns_the_candidates_generated_so_far() -> None:
    planner = Planner(_model(0), config=PlannerConfig(**SMALL))  # fresh: no cost measured yet
    images, proprio = planner.policy_model.config.layout.fake_observation(3)
    result = planner.plan(images, proprio, INSTRUCTION, base_seed=0, budget_s=1e-3)
    assert result.num_evaluated == 8 and result.num_value_samples.tolist() == [1] * 8
    assert "exhausted in the future stage" in result.reason and "policy sample's own value" in result.reason
    tiny_budget = planner.plan(images, proprio, INSTRUCTION, base_seed=0, budget_s=1e-3)  # now measured
    assert tiny_budget.num_evaluated == 1 and "fits 1 of 8" in tiny_budget.reason


class RecordingModel(CosmosPolicy):
    """Records every ``generate`` call: (role, seeds, clean conditioning latents or None, output)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[Role, list[int], torch.Tensor | None, torch.Tensor]] = []

    def generate(self, encoded: EncodedObservation, role: Role, num_steps: int | None, seeds: Sequence[int],
                 condition_latents: torch.Tensor | None = None) -> torch.Tensor:
        latents = super().generate(encoded, role, num_steps, seeds, condition_latents)
        self.calls.append((Role(role), list(seeds), condition_latents, latents))
        return latents


def test_a_deeper_level_continues_from_the_last_predicted_future() -> None:
    torch.manual_seed(0)
    model = RecordingModel(get_preset("tiny")).eval()
    config = PlannerConfig(search_depth=2, **SMALL)
    result = Planner(model, config=config).plan(*model.config.layout.fake_observation(3), INSTRUCTION, base_seed=10)
    layout = model.layout
    current, future = layout.state_indices(), layout.state_indices(future=True)
    cameras = list(layout.config.camera_names)
    assert [layout.frame_names[i] for i in current] == ["proprio", *cameras]
    assert [layout.frame_names[i] for i in future] == ["future_proprio", *(f"future_{c}" for c in cameras)]
    continued = [i for i, (role, _, cond, _) in enumerate(model.calls) if role is Role.POLICY and cond is not None]
    assert continued, "no policy call conditioned on a predicted state"
    level_one = model.calls[:continued[0]]
    last_member = config.continued_future_member  # seed base + q + member
    futures = {seed: out[k] for role, seeds, _, out in level_one if role is Role.WORLD_MODEL
               for k, seed in enumerate(seeds)}
    starts = {}
    for i in continued:
        _, seeds, cond, _ = model.calls[i]
        for k, seed in enumerate(seeds):  # the policy seed of candidate q (base + q) again
            expected = futures[seed + last_member]
            torch.testing.assert_close(cond[k][:, current], expected[:, future], rtol=0, atol=0)
            starts[seed] = cond[k]
    assert sorted(starts) == list(range(10, 18))
    # the deeper world model conditions on the predicted state as is (no measured proprio re-injected)
    deeper_world = [c for c in model.calls[continued[-1] + 1:] if c[0] is Role.WORLD_MODEL]
    assert sum(len(seeds) for _, seeds, _, _ in deeper_world) == 8 * len(config.future_num_steps)
    for _, _, cond, _ in deeper_world:
        for row in cond:
            assert any(torch.equal(row[:, current], start[:, current]) for start in starts.values())
    assert result.values_by_depth.shape == (8, 2)
    assert "searched depth 2 of 2 (use_last_value)" in result.reason


@pytest.mark.parametrize("rule", ["use_last_value", "average"])
def test_depth_scores_combine_by_the_rule_and_level_one_matches_a_shallow_plan(rule: str) -> None:
    policy = _model(0)
    images, proprio = policy.config.layout.fake_observation(3)
    deep = Planner(policy, config=PlannerConfig(search_depth=3, depth_aggregation=rule, **SMALL))
    shallow = Planner(policy, config=PlannerConfig(**SMALL))
    result = deep.plan(images, proprio, INSTRUCTION, base_seed=4)
    reference = shallow.plan(images, proprio, INSTRUCTION, base_seed=4)
    assert result.values_by_depth.shape == (8, 3) and reference.values_by_depth.shape == (8, 1)
    np.testing.assert_allclose(result.values_by_depth[:, 0], reference.values, rtol=0, atol=1e-6)
    combined = result.values_by_depth[:, -1] if rule == "use_last_value" else result.values_by_depth.mean(axis=1)
    np.testing.assert_allclose(result.values, combined, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(result.candidate_actions, reference.candidate_actions)  # depth 1 executes
    assert set(result.num_value_samples) == {6}  # the deepest level's samples


def test_a_deadline_inside_a_deeper_level_keeps_the_shallower_scores() -> None:
    torch.manual_seed(0)
    model = RecordingModel(get_preset("tiny")).eval()
    planner = Planner(model, config=PlannerConfig(search_depth=2, **SMALL))
    # the deadline passes once the second level's first policy call ran (its futures never start)
    planner._fits = lambda call, deadline: not any(c[0] is Role.POLICY and c[2] is not None for c in model.calls)
    result = planner.plan(*model.config.layout.fake_observation(3), INSTRUCTION, base_seed=0, budget_s=60.0)
    assert "budget exhausted in the future stage of depth 2" in result.reason
    assert "searched depth 1 of 2" in result.reason and result.values_by_depth.shape == (8, 1)
    assert result.num_evaluated == 8 and set(result.num_value_samples) == {6}


def test_planner_model_must_share_the_layout() -> None:
    other = CosmosPolicy(get_preset("tiny").replace(
        layout=get_preset("tiny").layout.__class__(camera_names=("wrist",), proprio_dim=4, action_dim=3,
                                                   chunk_length=4, image_height=32, image_width=32)))
    with pytest.raises(ValueError, match="layout"):
        Planner(_model(0), other)
