# SPDX-License-Identifier: Apache-2.0
"""One slow decision (an injected cost on every DiT call) must not degrade the planner for good.

The slow decision measures its costs with the delay; the next decisions fall back to fewer
candidates and say so; once the stale measurements expire (``cost_max_age`` decisions) the planner
plans all N again, re-measures them and keeps planning all N. Time is the DiT-cost clock
(``planner_clock``), so machine load cannot decide the outcome.
"""
from __future__ import annotations

import numpy as np
import torch

from cosmos_policy_ros.core.config import get_preset
from cosmos_policy_ros.core.planning import Planner, PlannerConfig
from planner_clock import ClockedModel, PlannerClock

INSTRUCTION = "put the cube in the bowl"
SMALL = dict(policy_num_steps=2, future_ensemble_size=2, future_max_num_steps=3, value_ensemble_size=3,
             value_max_num_steps=3)
BUDGET_OVER_NORMAL = 2.0  # the budget fits an undelayed decision of all 8 twice over
DELAY_OVER_BUDGET = 1.0  # each delayed DiT call alone costs a whole budget
AFTER_DELAY_DECISIONS = 6


def test_budget_recovers_after_one_slow_decision(monkeypatch) -> None:
    clock = PlannerClock().install(monkeypatch)
    torch.manual_seed(0)
    model = ClockedModel(get_preset("tiny")).eval()
    model.clock = clock
    rng = np.random.RandomState(3)
    images = {c: rng.randint(0, 256, (32, 32, 3), dtype=np.uint8) for c in model.config.layout.camera_names}
    proprio = rng.uniform(-1, 1, model.config.layout.proprio_dim)
    config = PlannerConfig(**SMALL, cost_max_age=3)

    reference = Planner(model, None, config)  # an undelayed decision sizes the budget
    normal_s = reference.plan(images, proprio, INSTRUCTION, base_seed=0).elapsed_s
    budget_s = BUDGET_OVER_NORMAL * normal_s

    planner = Planner(model, None, config)
    clock.extra_s_per_call = DELAY_OVER_BUDGET * budget_s
    slow = planner.plan(images, proprio, INSTRUCTION, base_seed=0)  # the warm-up: no budget, all slow
    assert slow.num_evaluated == 8
    clock.extra_s_per_call = 0.0

    results = [planner.plan(images, proprio, INSTRUCTION, base_seed=0, budget_s=budget_s)
               for _ in range(AFTER_DELAY_DECISIONS)]
    evaluated = [r.num_evaluated for r in results]
    assert evaluated[0] < 8 and f"fits {evaluated[0]} of 8 candidates" in results[0].reason  # said so
    recovered = evaluated.index(8)  # raises if it never recovers
    assert recovered <= config.cost_max_age
    assert all("fits" in r.reason for r in results[:recovered])
    assert all(n == 8 for n in evaluated[recovered:]), evaluated  # and stays recovered
    full = results[-1]
    assert full.num_value_samples.tolist() == [config.value_samples_per_candidate] * 8
