# SPDX-License-Identifier: Apache-2.0
"""The DiT work of one decision as a list of batched ``generate`` calls.

Sample identity and seeds follow upstream (spec 5.4; seed derived from the candidate index, which
also fixes upstream bug 8.5): candidate q's action uses seed base + q; its future member i uses
base + q + i; value member j (for every future) uses base + q + j. Members with the same step
count share a call (one sigma schedule per call); calls hold at most ``max_rows`` samples, rows
ordered candidate-major so a call that is never made drops whole candidates last-first.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Sequence

from cosmos_policy_ros.core.layout import Role

NO_FUTURE = -1  # future index of samples that condition on the action sample (policy, q_value)
MAX_SEED = 2 ** 32 - 1  # numpy RandomState seed range


class Stage(str, enum.Enum):
    POLICY = "policy"
    FUTURE = "future"
    VALUE = "value"


@dataclass(frozen=True)
class SampleKey:
    """One generated sample: candidate q, the future it conditions on, its ensemble member, its seed."""

    candidate: int
    future: int
    member: int
    seed: int


@dataclass(frozen=True)
class GenerateCall:
    """One batched ``generate`` call."""

    stage: Stage
    role: Role
    num_steps: int
    rows: tuple[SampleKey, ...]


def check_seed_range(base_seed: int, num_candidates: int, max_members: int) -> None:
    """Raise if some derived seed leaves numpy's RandomState range."""
    top = base_seed + num_candidates - 1 + max(max_members - 1, 0)
    if base_seed < 0 or top > MAX_SEED:
        raise ValueError(f"base_seed={base_seed} gives seeds up to {top}; must stay within [0, {MAX_SEED}]")


def _chunked(stage: Stage, role: Role, num_steps: int, rows: Sequence[SampleKey],
             max_rows: int) -> list[GenerateCall]:
    return [GenerateCall(stage, role, num_steps, tuple(rows[i:i + max_rows]))
            for i in range(0, len(rows), max_rows)]


def _by_step_count(member_steps: Sequence[int]) -> list[tuple[int, list[int]]]:
    """(num_steps, members) groups in ascending step count (cheap samples first)."""
    groups: dict[int, list[int]] = {}
    for member, steps in enumerate(member_steps):
        groups.setdefault(steps, []).append(member)
    return sorted(groups.items())


def policy_calls(candidates: Sequence[int], base_seed: int, num_steps: int,
                 max_rows: int) -> list[GenerateCall]:
    rows = [SampleKey(q, NO_FUTURE, 0, base_seed + q) for q in candidates]
    return _chunked(Stage.POLICY, Role.POLICY, num_steps, rows, max_rows)


def future_calls(candidates: Sequence[int], base_seed: int, member_steps: Sequence[int],
                 max_rows: int) -> list[GenerateCall]:
    calls = []
    for steps, members in _by_step_count(member_steps):
        rows = [SampleKey(q, i, i, base_seed + q + i) for q in candidates for i in members]
        calls += _chunked(Stage.FUTURE, Role.WORLD_MODEL, steps, rows, max_rows)
    return calls


def value_calls(futures: Sequence[tuple[int, int]], base_seed: int, member_steps: Sequence[int], role: Role,
                max_rows: int) -> list[GenerateCall]:
    """Value calls for each (candidate, future index) pair (future NO_FUTURE for Q(s, a))."""
    calls = []
    for steps, members in _by_step_count(member_steps):
        rows = [SampleKey(q, i, j, base_seed + q + j) for q, i in sorted(futures) for j in members]
        calls += _chunked(Stage.VALUE, role, steps, rows, max_rows)
    return calls
