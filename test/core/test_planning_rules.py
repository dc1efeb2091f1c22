# SPDX-License-Identifier: Apache-2.0
"""Plan-and-select rules without a model: aggregation (upstream semantics), selection, config, seeds, cost."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cosmos_policy_ros.core.layout import Role
from cosmos_policy_ros.core.planning import (PlannerConfig, aggregate_values, ensemble_num_steps,
                                             select_candidate)
from cosmos_policy_ros.core.planning.budget import ForwardCostModel
from cosmos_policy_ros.core.planning.schedule import (NO_FUTURE, check_seed_range, future_calls, policy_calls,
                                                      value_calls)

THRESHOLD = 0.05
BETA = 1.0


def _aggregate(rows: list[list[float]], rule: str) -> np.ndarray:
    return aggregate_values(np.array(rows), rule, THRESHOLD, BETA)


def test_majority_mean_matches_hand_computed_upstream_examples() -> None:
    rows = [[0.9, 0.8, 0.01, 0.02, 0.7],  # 3 of 5 vote success -> mean(0.9, 0.8, 0.7)
            [0.9, 0.01, 0.02, 0.03, 0.0]]  # 1 of 5 -> 0
    np.testing.assert_allclose(_aggregate(rows, "majority_mean"), [0.8, 0.0])
    # Exactly half vote (0.05 is not > 0.05): upstream's ">= 0.5" keeps the mean of the votes.
    np.testing.assert_allclose(_aggregate([[0.6, 0.4, 0.0, 0.05]], "majority_mean"), [0.5])


def test_average_lcb_success_vote_match_hand_computed_examples() -> None:
    np.testing.assert_allclose(_aggregate([[0.2, 0.4, 0.6], [1.0, 1.0, 0.7]], "average"), [0.4, 0.9])
    np.testing.assert_allclose(_aggregate([[0.2, 0.4, 0.6]], "lcb"), [0.2])  # 0.4 - std(ddof=1) 0.2
    np.testing.assert_allclose(_aggregate([[0.0, 0.1]], "lcb"), [0.0])  # negative -> clipped to 0
    np.testing.assert_allclose(_aggregate([[0.06, 0.05, 0.5, 0.0]], "success_vote"), [0.5])


def test_unknown_rule_and_empty_samples_are_rejected() -> None:
    with pytest.raises(ValueError, match="median"):
        _aggregate([[0.5]], "median")
    with pytest.raises(ValueError, match="shape"):
        aggregate_values(np.zeros((2, 0)), "average", THRESHOLD, BETA)


@pytest.mark.parametrize("rule", ["seed_switching", "argmax"])
def test_ties_keep_the_base_seed_and_otherwise_the_first_maximum(rule: str) -> None:
    assert select_candidate(np.array([0.7, 0.7, 0.3]), rule).index == 0
    assert select_candidate(np.array([0.5, 0.7, 0.7]), rule).index == 1
    assert select_candidate(np.array([0.0, 0.0, 0.0]), rule).index == 0


def test_seed_switching_says_whether_the_base_seed_was_kept() -> None:
    kept = select_candidate(np.array([0.6, 0.6]), "seed_switching", np.array([195, 196]))
    switched = select_candidate(np.array([0.6, 0.6000001]), "seed_switching", np.array([195, 196]))
    assert kept.index == 0 and "base seed kept" in kept.reason
    assert switched.index == 1 and "seed 196" in switched.reason
    with pytest.raises(ValueError, match="best_of"):
        select_candidate(np.array([0.1]), "best_of")


def test_official_defaults_and_ensemble_step_counts() -> None:
    config = PlannerConfig()
    assert (config.num_candidates, config.policy_num_steps, config.aggregation, config.selection) == (
        8, 10, "majority_mean", "seed_switching")
    assert config.future_num_steps == (1, 3, 5) and config.value_num_steps == (1, 2, 3, 4, 5)
    assert config.value_samples_per_candidate == 15 and config.success_threshold == THRESHOLD
    assert ensemble_num_steps(1, 5) == (5,) and ensemble_num_steps(4, 5) == (1, 2, 3, 5)
    fast = PlannerConfig(mode="fast")
    assert fast.future_num_steps == (5,) and fast.value_num_steps == (5,)  # upstream: one parameter for both
    q_value = PlannerConfig(mode="q_value")
    assert q_value.future_num_steps == () and q_value.scoring_role is Role.Q_VALUE
    assert q_value.value_samples_per_candidate == 5
    assert (config.search_depth, config.depth_aggregation) == (1, "use_last_value")  # upstream defaults
    assert config.continued_future_member == 2 and fast.continued_future_member == 0


@pytest.mark.parametrize("changes, field_name", [({"num_candidates": 0}, "num_candidates"),
                                                 ({"mode": "slow"}, "mode"),
                                                 ({"aggregation": "max"}, "aggregation"),
                                                 ({"value_role": Role.POLICY}, "value_role"),
                                                 ({"budget_s": -1.0}, "budget_s"),
                                                 ({"max_batch_rows": 0}, "max_batch_rows"),
                                                 ({"search_depth": 0}, "search_depth"),
                                                 ({"search_depth": 2, "mode": "q_value"}, "search_depth"),
                                                 ({"depth_aggregation": "max"}, "depth_aggregation")])
def test_config_errors_name_the_field(changes: dict, field_name: str) -> None:
    with pytest.raises(ValueError, match=field_name):
        PlannerConfig(**changes)


def test_seeds_follow_the_candidate_index_and_calls_are_chunked() -> None:
    policy = policy_calls([0, 1, 2], 195, 10, max_rows=2)
    assert [[r.seed for r in c.rows] for c in policy] == [[195, 196], [197]]
    futures = future_calls([0, 1], 195, (1, 3, 5), max_rows=8)
    assert [c.num_steps for c in futures] == [1, 3, 5]
    assert [(r.candidate, r.future, r.seed) for r in futures[1].rows] == [(0, 1, 196), (1, 1, 197)]
    values = value_calls([(1, 0), (0, 2)], 195, (1, 2, 2), Role.VALUE_FUTURE, max_rows=8)
    assert [c.num_steps for c in values] == [1, 2]  # members 1 and 2 share their step count
    assert [(r.candidate, r.future, r.member, r.seed) for r in values[1].rows] == [
        (0, 2, 1, 196), (0, 2, 2, 197), (1, 0, 1, 197), (1, 0, 2, 198)]
    q_values = value_calls([(0, NO_FUTURE)], 0, (1,), Role.Q_VALUE, max_rows=8)
    assert q_values[0].role is Role.Q_VALUE and q_values[0].rows[0].future == NO_FUTURE
    with pytest.raises(ValueError, match="base_seed"):
        check_seed_range(2 ** 32 - 2, 8, 5)


def test_cost_model_counts_forwards_and_interpolates_batch_sizes() -> None:
    cost = ForwardCostModel(ema_weight=0.5)
    layer = torch.nn.Linear(2, 2)
    with cost.counting(layer) as counter:
        layer(torch.zeros(1, 2))
        layer(torch.zeros(1, 2))
    assert counter.forwards == 2
    assert cost.generate_s(1, 4, 10) is None
    cost.observe_generate(1, rows=2, num_steps=3, forwards=3, elapsed_s=0.3)   # 0.1 s per forward
    cost.observe_generate(1, rows=10, num_steps=3, forwards=3, elapsed_s=0.9)  # 0.3 s per forward
    cost.observe_generate(1, rows=10, num_steps=3, forwards=3, elapsed_s=1.5)  # EMA: (0.3 + 0.5) / 2
    assert cost.per_forward_s(1, 6) == pytest.approx(0.25)  # halfway between 0.1 and 0.4
    assert cost.per_forward_s(1, 1) == pytest.approx(0.1)  # never cheaper than the smallest measured
    assert cost.per_forward_s(1, 20) == pytest.approx(0.8)  # linear above the largest
    assert cost.generate_s(1, 2, 3) == pytest.approx(0.3)
    assert cost.generate_s(1, 2, 7) == pytest.approx(0.7)  # unseen step count: num_steps forwards
    assert cost.generate_s(2, 2, 3) is None  # another model
