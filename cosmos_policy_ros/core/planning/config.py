# SPDX-License-Identifier: Apache-2.0
"""``PlannerConfig``: how many candidates, how each is scored, how one is chosen, within what time.

Defaults are the official ALOHA main planning configuration (spec 5.4; ``deploy.py`` docstring
L48-90): 8 candidates, policy 10 evaluations, 3 future states with linspace(1, 5, 3) = {1, 3, 5}
evaluations, 5 values per future with {1, 2, 3, 4, 5} evaluations, V(s') values, ``majority_mean``
with threshold 0.05, seed switching.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from cosmos_policy_ros.core.layout import Role
from cosmos_policy_ros.core.planning.aggregation import AGGREGATIONS, SELECTIONS
from cosmos_policy_ros.config_checks import check_field
from cosmos_policy_ros.settings import setting

MODES = ("full", "fast", "q_value")
MAX_SEARCH_DEPTH = 5  # upstream ran up to 3
DEPTH_AGGREGATIONS = ("use_last_value", "average")  # upstream search_depth_value_aggregation_scheme
VALUE_ROLES = (Role.VALUE_FUTURE, Role.VALUE)
_check = functools.partial(check_field, "planner config")


def ensemble_num_steps(ensemble_size: int, max_num_steps: int) -> tuple[int, ...]:
    """Evaluations per ensemble member: upstream ``np.linspace(1, max, size).astype(int)``.

    (3, 5) -> (1, 3, 5); (5, 5) -> (1, 2, 3, 4, 5). A single member uses ``max_num_steps``, as
    upstream's non-ensemble path does.
    """
    if ensemble_size == 1:
        return (max_num_steps,)
    return tuple(int(n) for n in np.linspace(1, max_num_steps, ensemble_size).astype(int))


@dataclass(frozen=True)
class PlannerConfig:
    """Best-of-N plan-and-select settings.

    Args:
        num_candidates: N action chunks sampled from the policy (candidate q has seed base + q).
        mode: ``full`` (official: future-state ensemble, value ensemble per future), ``fast`` (one
            future, one value per candidate), ``q_value`` (value from state + action, no future).
        policy_num_steps: denoiser evaluations per action chunk (ALOHA 10).
        future_ensemble_size / future_max_num_steps: future states per candidate (full mode) and
            the evaluations of the last member (members get ``ensemble_num_steps``), which is also
            the evaluations of fast mode's single future (upstream uses one parameter,
            ``num_denoising_steps_future_state``, for both).
        value_ensemble_size / value_max_num_steps: value samples per future state (full) or per
            candidate (q_value), and their largest step count (also fast mode's single value).
            policy_node takes both step counts from the checkpoint's sampler config.
        Step counts follow upstream's sampler: N = 2 is ONE evaluation at sigma 80, exactly as
        N = 1 (spec 3.5), so the ensemble (1, 2, 3, 4, 5) runs 1, 1, 3, 4, 5 evaluations.
        value_role: V(s') (``Role.VALUE_FUTURE``, the official planning checkpoint) or V(s, a, s')
            (``Role.VALUE``, a base checkpoint) for full/fast modes.
        aggregation: one of ``AGGREGATIONS`` (upstream default for ALOHA: majority_mean).
        success_threshold: a value sample above it votes success (upstream 0.05).
        lcb_beta: std weight of the ``lcb`` rule (upstream 1.0).
        selection: ``seed_switching`` (ALOHA) or ``argmax`` (LIBERO/RoboCasa).
        search_depth: levels of the search (upstream ``search_depth``, default 1). At depth d > 1
            each candidate continues from its predicted future of depth d - 1 (the last future
            member, the one with the most evaluations; fast mode's single future): the future
            proprio and images become the current state, the policy samples the next chunk (same
            seed), and the planner predicts its futures and values as at depth 1. One branch per
            candidate, so the cost grows linearly with the depth (upstream branches over every
            future at depth 2). Not with ``q_value`` (as upstream).
        depth_aggregation: how the per-depth scores make a candidate's score: ``use_last_value``
            (upstream default: the deepest level's) or ``average`` (mean over the levels).
        budget_s: default time budget per decision [s]; None = unlimited.
        max_batch_rows: most samples in one DiT call (bounds activation memory).
        cost_ema_weight: weight of the newest measurement in the per-forward cost average.
        cost_max_age: decisions a cost estimate is trusted without being measured again (after
            a fallback to fewer candidates the skipped batch sizes are re-measured, see budget.py).
    """

    num_candidates: int = 8
    mode: str = "full"
    policy_num_steps: int = 10
    future_ensemble_size: int = 3
    future_max_num_steps: int = 5
    value_ensemble_size: int = 5
    value_max_num_steps: int = 5
    value_role: Role = Role.VALUE_FUTURE
    aggregation: str = "majority_mean"
    success_threshold: float = 0.05
    lcb_beta: float = 1.0
    selection: str = "seed_switching"
    search_depth: int = setting(1, "Search levels per candidate: > 1 continues from the predicted future (costs "
                                "depth x the scoring; not with q_value).", min_value=1, max_value=MAX_SEARCH_DEPTH)
    depth_aggregation: str = setting("use_last_value", "How the levels' scores combine (use_last_value: the "
                                     "deepest; average).", choices=DEPTH_AGGREGATIONS)
    budget_s: float | None = None
    max_batch_rows: int = 32
    cost_ema_weight: float = 0.3
    cost_max_age: int = 3

    def __post_init__(self) -> None:
        for name in ("num_candidates", "policy_num_steps", "future_ensemble_size", "future_max_num_steps",
                     "value_ensemble_size", "value_max_num_steps", "max_batch_rows", "search_depth",
                     "cost_max_age"):
            _check(getattr(self, name) >= 1, name, getattr(self, name), "must be >= 1")
        _check(self.mode in MODES, "mode", self.mode, f"must be one of {MODES}")
        _check(self.aggregation in AGGREGATIONS, "aggregation", self.aggregation,
               f"must be one of {AGGREGATIONS}")
        _check(self.depth_aggregation in DEPTH_AGGREGATIONS, "depth_aggregation", self.depth_aggregation,
               f"must be one of {DEPTH_AGGREGATIONS}")
        _check(self.search_depth == 1 or self.mode != "q_value", "search_depth", self.search_depth,
               "must be 1 in q_value mode (a deeper level starts from a predicted future state)")
        _check(self.selection in SELECTIONS, "selection", self.selection, f"must be one of {SELECTIONS}")
        _check(Role(self.value_role) in VALUE_ROLES, "value_role", self.value_role,
               f"must be one of {[r.name for r in VALUE_ROLES]}")
        _check(0.0 <= self.success_threshold < 1.0, "success_threshold", self.success_threshold,
               "must be in [0, 1)")
        _check(self.lcb_beta >= 0.0, "lcb_beta", self.lcb_beta, "must be >= 0")
        _check(self.budget_s is None or (math.isfinite(self.budget_s) and self.budget_s > 0), "budget_s",
               self.budget_s, "must be None or a finite number > 0")
        _check(0.0 < self.cost_ema_weight <= 1.0, "cost_ema_weight", self.cost_ema_weight,
               "must be in (0, 1]")

    @property
    def future_num_steps(self) -> tuple[int, ...]:
        """Evaluations of each future-state ensemble member (empty: no future state)."""
        if self.mode == "full":
            return ensemble_num_steps(self.future_ensemble_size, self.future_max_num_steps)
        return (self.future_max_num_steps,) if self.mode == "fast" else ()

    @property
    def value_num_steps(self) -> tuple[int, ...]:
        """Evaluations of each value ensemble member (per future state, or per candidate in q_value)."""
        if self.mode == "fast":
            return (self.value_max_num_steps,)
        return ensemble_num_steps(self.value_ensemble_size, self.value_max_num_steps)

    @property
    def continued_future_member(self) -> int:
        """The future ensemble member a deeper search level starts from (the last, most evaluations)."""
        return len(self.future_num_steps) - 1

    @property
    def value_samples_per_candidate(self) -> int:
        return max(len(self.future_num_steps), 1) * len(self.value_num_steps)

    @property
    def scoring_role(self) -> Role:
        """The role of the value generations."""
        return Role.Q_VALUE if self.mode == "q_value" else Role(self.value_role)
