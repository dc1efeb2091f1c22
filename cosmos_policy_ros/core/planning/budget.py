# SPDX-License-Identifier: Apache-2.0
"""Self-measured cost of DiT work, for fitting a decision into a time budget.

The planner times every ``generate`` call and counts the transformer forwards it made (a forward
hook, so the sampler's step rule is observed, not re-derived). It keeps an exponential moving
average (EMA) of seconds per forward for each (model, batch rows).

Recovery: a measurement is trusted for ``max_age`` decisions. A batch size the planner stopped
running (it fell back to fewer candidates because one decision was slow: a warm-up, a busy GPU)
is forgotten after that, so its cost is estimated again from the sizes measured since (or is
unknown, and the next decision plans every candidate under the deadline guard: the probe that
measures it afresh). One slow decision therefore costs at most ``max_age`` degraded decisions.

Estimates for an unmeasured batch size interpolate linearly between measured sizes; above the
largest they scale linearly with rows; below the smallest they reuse the smallest (never cheaper
than measured, so a small budget is not overrun on a GPU where small batches cost about the same).
"""
from __future__ import annotations

import bisect
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

from torch import nn


@dataclass
class ForwardCounter:
    """Counts forwards of one module while inside ``ForwardCostModel.counting``."""

    forwards: int = 0


@dataclass
class ForwardCostModel:
    """EMA of seconds per transformer forward per (model key, rows).

    Args:
        ema_weight: weight of the newest measurement (1 = keep only the last).
        max_age: decisions a (model, rows) estimate survives without a new measurement.
    """

    ema_weight: float = 0.3
    max_age: int = 3
    _per_forward_s: dict[tuple[int, int], float] = field(default_factory=dict)
    _measured_at: dict[tuple[int, int], int] = field(default_factory=dict)
    _forwards_per_steps: dict[int, int] = field(default_factory=dict)
    _decision: int = 0

    def start_decision(self) -> None:
        """Count one decision; forget estimates not measured in the last ``max_age`` decisions."""
        self._decision += 1
        for key in [k for k, at in self._measured_at.items() if self._decision - at > self.max_age]:
            del self._per_forward_s[key], self._measured_at[key]

    def _blend(self, old: float | None, new: float) -> float:
        return new if old is None else (1.0 - self.ema_weight) * old + self.ema_weight * new

    @contextmanager
    def counting(self, module: nn.Module) -> Iterator[ForwardCounter]:
        """Count ``module``'s forwards inside the block."""
        counter = ForwardCounter()

        def hook(*_: object) -> None:
            counter.forwards += 1

        handle = module.register_forward_hook(hook)
        try:
            yield counter
        finally:
            handle.remove()

    def observe_generate(self, model_key: int, rows: int, num_steps: int, forwards: int,
                         elapsed_s: float) -> None:
        """Record one ``generate`` call of ``rows`` samples that made ``forwards`` forwards."""
        if forwards < 1:
            return
        self._forwards_per_steps[num_steps] = forwards
        key = (model_key, rows)
        self._per_forward_s[key] = self._blend(self._per_forward_s.get(key), elapsed_s / forwards)
        self._measured_at[key] = self._decision

    def forwards_for(self, num_steps: int) -> int:
        """Forwards of a ``num_steps`` request (as observed; ``num_steps`` until then, an upper bound)."""
        return self._forwards_per_steps.get(num_steps, num_steps)

    def per_forward_s(self, model_key: int, rows: int) -> float | None:
        """Estimated seconds of one forward of ``rows`` samples; None before any measurement."""
        sizes = sorted(r for (key, r) in self._per_forward_s if key == model_key)
        if not sizes:
            return None
        cost = {r: self._per_forward_s[(model_key, r)] for r in sizes}
        if rows in cost:
            return cost[rows]
        if rows < sizes[0]:
            return cost[sizes[0]]
        if rows > sizes[-1]:
            return cost[sizes[-1]] * rows / sizes[-1]
        upper = bisect.bisect_left(sizes, rows)
        lo, hi = sizes[upper - 1], sizes[upper]
        return cost[lo] + (cost[hi] - cost[lo]) * (rows - lo) / (hi - lo)

    def generate_s(self, model_key: int, rows: int, num_steps: int) -> float | None:
        """Estimated seconds of one ``generate`` call; None before any measurement of the model."""
        per_forward = self.per_forward_s(model_key, rows)
        return None if per_forward is None else per_forward * self.forwards_for(num_steps)
