# SPDX-License-Identifier: Apache-2.0
"""Every exposed step count changes the number of DiT forwards (counted with a forward hook).

Settings: the checkpoint's ``SamplerConfig`` (policy / world model / value), policy_node's
``num_denoising_steps`` (``ModelSource.num_steps``) and ``PlannerConfig``'s step counts and
ensemble sizes. Upstream's sampler runs N = 2 as one evaluation (spec 3.5): counted too.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import pytest
import torch

from cosmos_policy_ros.serving.policy_runner import ModelSource, PolicyRunner, ServedModel, planner_config
from cosmos_policy_ros.core.config import get_preset
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.core.planning import Planner, PlannerConfig, aggregate_values
from cosmos_policy_ros.presets import load_preset

INSTRUCTION = "stack the blocks"


def _model(**sampler: int) -> CosmosPolicy:
    torch.manual_seed(0)
    config = get_preset("tiny")
    return CosmosPolicy(config.replace(sampler=dataclasses.replace(config.sampler, **sampler))).eval()



def _forwards(model: CosmosPolicy, run: Callable[[], object]) -> int:
    count = [0]
    handle = model.transformer.register_forward_hook(lambda *_: count.__setitem__(0, count[0] + 1))
    try:
        run()
    finally:
        handle.remove()
    return count[0]


def _source(num_steps: int = 0, num_candidates: int = 2, mode: str = "fast") -> ModelSource:
    return ModelSource(checkpoint="unused", device="cpu", dtype="float32", num_steps=num_steps,
                       num_candidates=num_candidates, planning_mode=mode)


def _runner_forwards(model: CosmosPolicy, source: ModelSource) -> int:
    planner = Planner(model, None, planner_config(source, model, model)) if source.num_candidates > 1 else None
    runner = PolicyRunner(ServedModel(model, "test"), source, load_preset("sim_arm"), planner)
    images, proprio = model.config.layout.fake_observation(1)
    return _forwards(model, lambda: runner.decide(images, proprio, INSTRUCTION, seed=5, budget_s=float("inf")))


@pytest.mark.parametrize("steps, evaluations", [(1, 1), (2, 1), (3, 3), (4, 4)])
def test_checkpoint_policy_steps_and_the_n2_quirk(steps: int, evaluations: int) -> None:
    """The checkpoint's policy_num_steps drives the plain policy; N = 2 is one evaluation (spec 3.5)."""
    model = _model(policy_num_steps=steps)
    assert _runner_forwards(model, _source(num_candidates=1)) == evaluations


@pytest.mark.parametrize("num_steps", [3, 4])
def test_node_num_denoising_steps_overrides_the_checkpoint(num_steps: int) -> None:
    model = _model(policy_num_steps=1)
    assert _runner_forwards(model, _source(num_steps=num_steps, num_candidates=1)) == num_steps
    # with planning, the override reaches the candidates' action samples (fast: + 1 future + 1 value)
    assert _runner_forwards(model, _source(num_steps=num_steps)) == num_steps + 1 + 1


@pytest.mark.parametrize("world_model_steps, value_steps", [(1, 1), (3, 1), (1, 4), (3, 4)])
def test_checkpoint_world_model_and_value_steps_reach_the_planner(world_model_steps: int, value_steps: int) -> None:
    """Fast mode: one batched call per stage, so forwards = policy + future + value evaluations."""
    model = _model(policy_num_steps=1, world_model_num_steps=world_model_steps, value_num_steps=value_steps)
    assert _runner_forwards(model, _source()) == 1 + world_model_steps + value_steps


def _evaluations(steps: int) -> int:
    return 1 if steps <= 2 else steps


@pytest.mark.parametrize("changes, expected", [
    ({}, 3 + (1 + 3 + 5) + (1 + 1 + 3 + 4 + 5)),  # official shape: futures {1,3,5}, values {1,2,3,4,5}
    ({"policy_num_steps": 4}, 4 + 9 + 14),
    ({"policy_num_steps": 2}, 1 + 9 + 14),  # N = 2: one evaluation
    ({"future_max_num_steps": 3}, 3 + (1 + 1 + 3) + 14),  # futures {1,2,3}: the 2 is one evaluation
    ({"future_ensemble_size": 2}, 3 + (1 + 5) + 14),
    ({"value_max_num_steps": 3}, 3 + 9 + (1 + 1 + 3)),  # values {1,1,2,2,3} -> groups 1, 2, 3
    ({"value_ensemble_size": 3}, 3 + 9 + (1 + 3 + 5)),
    ({"mode": "fast"}, 3 + 5 + 5),
    ({"mode": "fast", "future_max_num_steps": 3, "value_max_num_steps": 4}, 3 + 3 + 4),
    ({"mode": "q_value"}, 3 + 14),
])
def test_planner_config_step_counts(changes: dict, expected: int) -> None:
    """One batched call per distinct step count and stage; each call costs its evaluations."""
    model = _model()
    config = PlannerConfig(**{"num_candidates": 2, "policy_num_steps": 3, **changes})
    images, proprio = model.config.layout.fake_observation(1)
    planner = Planner(model, None, config)
    counted = _forwards(model, lambda: planner.plan(images, proprio, INSTRUCTION, base_seed=3))
    derived = (_evaluations(config.policy_num_steps) + sum(map(_evaluations, set(config.future_num_steps)))
               + sum(map(_evaluations, set(config.value_num_steps))))
    assert counted == expected == derived


def test_single_value_sample_is_scored_raw() -> None:
    """Fast mode's one value per candidate: majority_mean would map values <= 0.05 to 0 and tie them."""
    low = np.array([[0.04], [0.01], [0.5]])
    for rule in ("majority_mean", "success_vote", "average", "lcb"):
        assert np.array_equal(aggregate_values(low, rule, 0.05, 1.0), low[:, 0]), rule
    assert np.array_equal(aggregate_values(np.array([[0.04, 0.01]]), "majority_mean", 0.05, 1.0), [0.0])
    model = _model(policy_num_steps=1)
    images, proprio = model.config.layout.fake_observation(1)
    result = Planner(model, None, PlannerConfig(num_candidates=3, mode="fast", policy_num_steps=1,
                                                future_max_num_steps=1, value_max_num_steps=1)).plan(
        images, proprio, INSTRUCTION, base_seed=0)
    assert result.aggregation == "single_sample"
    assert np.allclose(result.values, np.clip([s[0] for s in result.value_samples], 0, 1))
