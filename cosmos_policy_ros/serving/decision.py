# SPDX-License-Identifier: Apache-2.0
"""What one inference decided, as typed plain values (numpy, no torch, no ROS).

:class:`Decision` is what :class:`~cosmos_policy_ros.serving.policy_runner.PolicyRunner` returns;
``ros/conversions.py`` is the one place that turns it into ActionChunk / PlanCandidates messages,
so the message schema never leaks into serving code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class PlanSummary:
    """How a chunk was chosen: one entry per evaluated candidate (one for the plain policy).

    Args:
        values / value_spreads / num_value_samples / seeds: per candidate, in evaluation order.
        selected_index: the chosen candidate.
        reason: the planner's account of the choice (fallbacks, depth searched).
        num_requested / num_evaluated: candidates asked for and actually scored (budget).
        budget_ms: the decision's time budget (NaN = unlimited); elapsed_ms: time the plan took.
        aggregation: how each candidate's value samples were combined.
    """

    values: tuple[float, ...]
    value_spreads: tuple[float, ...]
    num_value_samples: tuple[int, ...]
    seeds: tuple[int, ...]
    selected_index: int
    reason: str
    num_requested: int
    num_evaluated: int
    budget_ms: float
    elapsed_ms: float
    aggregation: str

    @classmethod
    def plain(cls, value: float, seed: int, elapsed_ms: float) -> "PlanSummary":
        """A plain policy decision (N=1): one candidate, its own value, no budget."""
        return cls(values=(value,), value_spreads=(0.0,), num_value_samples=(1,), seeds=(seed,), selected_index=0,
                   reason="plain policy (num_candidates 1)", num_requested=1, num_evaluated=1, budget_ms=math.nan,
                   elapsed_ms=elapsed_ms, aggregation="none")

    @property
    def fell_back(self) -> bool:
        """Fewer candidates were evaluated than requested (the budget did not fit them)."""
        return self.num_evaluated < self.num_requested


@dataclass
class Decision:
    """One chosen chunk: actions (K, A) raw, its value, which candidate, model time, how it was chosen.

    With imagination: ``candidate_actions`` (n, K, A) raw and ``imagine`` (call after acting on the
    chunk: decodes camera -> uint8 image of the selected candidate's predicted future)."""

    actions: np.ndarray
    value: float
    candidate_index: int
    num_candidates: int
    model_ms: float
    plan: PlanSummary
    candidate_actions: np.ndarray | None = None
    imagine: Callable[[], dict[str, np.ndarray]] | None = None
