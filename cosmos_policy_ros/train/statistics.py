# SPDX-License-Identifier: Apache-2.0
"""Honest numbers for small closed-loop evaluations: Wilson intervals and the exact McNemar test.

ROS-free, standard library only. Why these two: a success rate from 20-80 episodes has a wide
uncertainty that the normal ("Wald") interval understates near 0 and 1 (Wilson does not), and two
settings run on the same seeded scenes are paired, so the test looks only at the scenes where they
disagree (McNemar; exact binomial, since those counts are small).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

CONFIDENCE = 0.95


def wilson_interval(successes: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (Wilson 1927); (nan, nan) without trials.

    Raises:
        ValueError: counts out of range, or ``confidence`` not in (0, 1).
    """
    if not 0 <= successes <= trials:
        raise ValueError(f"wilson_interval: need 0 <= successes={successes} <= trials={trials}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"wilson_interval: confidence={confidence} must be in (0, 1)")
    if trials == 0:
        return math.nan, math.nan
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    p, n = successes / trials, trials
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class PairedComparison:
    """Two settings on the same scenes: the discordant counts and the exact McNemar p-value.

    Args:
        both / neither: scenes both settings solved / neither solved.
        only_a / only_b: scenes only setting A (only B) solved.
        p_value: two-sided exact McNemar p (binomial test of only_a vs only_b at 1/2).
    """

    both: int
    only_a: int
    only_b: int
    neither: int
    p_value: float


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (1.0 when there are none)."""
    if only_a < 0 or only_b < 0:
        raise ValueError(f"mcnemar_exact: discordant counts ({only_a}, {only_b}) must be >= 0")
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2.0 ** n
    return min(1.0, 2.0 * tail)


def paired_comparison(success_a: Sequence[bool], success_b: Sequence[bool]) -> PairedComparison:
    """McNemar on two settings' outcomes, scene by scene (same order, same scenes).

    Raises:
        ValueError: the two lists have different lengths (not paired).
    """
    if len(success_a) != len(success_b):
        raise ValueError(f"paired_comparison: {len(success_a)} vs {len(success_b)} outcomes; "
                         "a paired test needs the same scenes in both settings")
    pairs = [(bool(a), bool(b)) for a, b in zip(success_a, success_b)]
    only_a = sum(a and not b for a, b in pairs)
    only_b = sum(b and not a for a, b in pairs)
    return PairedComparison(both=sum(a and b for a, b in pairs), only_a=only_a, only_b=only_b,
                            neither=sum(not a and not b for a, b in pairs),
                            p_value=mcnemar_exact(only_a, only_b))
