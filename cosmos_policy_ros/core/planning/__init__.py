# SPDX-License-Identifier: Apache-2.0
"""Plan-and-select: best-of-N action chunks scored by the model's own world model and value (spec 5.4).

One decision, batched on one device (N candidates, F futures each, V values per future)::

    time ->
    | encode | policy: N rows x 10 | futures: N rows per step count | values: N*F rows per step | select |
      once     one batch of seeds   {1, 3, 5} evals (3 calls)        {1..5} evals (5 calls)
               ^ always runs        ^ before each call: does its estimated cost still fit the budget?
                                      if not, stop and select among what was scored so far

With ``search_depth`` d > 1 each candidate goes on from its predicted future: the same three stages
run d - 1 more times (the future made the current state, same seeds), and the levels' scores
combine by ``depth_aggregation``; what executes is still the first level's chunk.

Upstream ran the same 8 x (10 + 9 + 45) DiT evaluations as one candidate per GPU, each
candidate's 1 + 3 + 15 generations serially, while the arm waited.

Modules: ``config`` (PlannerConfig), ``schedule`` (seeds and the batched calls), ``budget``
(self-measured forward cost), ``aggregation`` (scores, selection), ``planner`` (Planner, PlanResult).
"""
from cosmos_policy_ros.core.planning.aggregation import (AGGREGATIONS, SELECTIONS, Selection,
                                                         aggregate_values, select_candidate)
from cosmos_policy_ros.core.planning.config import DEPTH_AGGREGATIONS, MODES, PlannerConfig, ensemble_num_steps
from cosmos_policy_ros.core.planning.planner import Planner, PlanResult

__all__ = ["AGGREGATIONS", "DEPTH_AGGREGATIONS", "MODES", "SELECTIONS", "PlanResult", "Planner", "PlannerConfig", "Selection",
           "aggregate_values", "ensemble_num_steps", "select_candidate"]
