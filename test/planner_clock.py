# SPDX-License-Identifier: Apache-2.0
"""A clock for planner budget tests that only DiT calls advance, so a budget check is exact on any
machine (load spikes never count). Importable as ``planner_clock``: pytest puts ``test/`` on sys.path.
"""
from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch

from cosmos_policy_ros.core.model import CosmosPolicy, EncodedObservation
from cosmos_policy_ros.core.layout import Role


class PlannerClock:
    """Stands in for the planner module's ``time``: one generated sample-step costs ``SAMPLE_STEP_S``;
    ``extra_s_per_call`` adds a fixed cost to every DiT call (a GPU warm-up, a busy machine)."""

    SAMPLE_STEP_S = 0.05

    def __init__(self) -> None:
        self.now_s = 0.0
        self.extra_s_per_call = 0.0

    def perf_counter(self) -> float:
        return self.now_s

    def install(self, monkeypatch: pytest.MonkeyPatch) -> "PlannerClock":
        from cosmos_policy_ros.core.planning import planner as planner_module
        monkeypatch.setattr(planner_module, "time", self)
        return self


class ClockedModel(CosmosPolicy):
    """A policy whose every ``generate`` call advances ``clock`` by its sample-steps' cost."""

    clock: PlannerClock

    def generate(self, encoded: EncodedObservation, role: Role, num_steps: int | None, seeds: Sequence[int],
                 condition_latents: torch.Tensor | None = None) -> torch.Tensor:
        self.clock.now_s += self.clock.SAMPLE_STEP_S * len(seeds) * (num_steps or 1) + self.clock.extra_s_per_call
        return super().generate(encoded, role, num_steps, seeds, condition_latents)
