# SPDX-License-Identifier: Apache-2.0
"""Wilson intervals and the exact McNemar test against reference numbers worked out by hand."""
from __future__ import annotations

import math

import pytest

from cosmos_policy_ros.train.statistics import mcnemar_exact, paired_comparison, wilson_interval


def test_wilson_matches_reference_values() -> None:
    # statsmodels proportion_confint(8, 10, method="wilson") = (0.490162, 0.943318); by hand with
    # z = 1.959964: centre = (0.8 + 0.192073) / 1.384146 = 0.716740, half = 0.226578.
    assert wilson_interval(8, 10) == pytest.approx((0.490162, 0.943318), abs=1e-6)
    # 20/40: symmetric about 0.5; half = z/(1 + z^2/40) * sqrt(0.25/40 + z^2/6400) = 1.788227 * 0.082766 = 0.148005
    assert wilson_interval(20, 40) == pytest.approx((0.351995, 0.648005), abs=1e-6)
    # 0/20 has a non-zero upper bound z^2 / (n + z^2) = 3.841459 / 23.841459 = 0.161125 (Wald gives 0)
    low, high = wilson_interval(0, 20)
    assert low == 0.0 and high == pytest.approx(0.161125, abs=1e-6)
    assert wilson_interval(20, 20)[1] == 1.0 and wilson_interval(20, 20)[0] == pytest.approx(1 - 0.161125, abs=1e-6)


def test_wilson_rejects_bad_counts_and_handles_zero_trials() -> None:
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(5, 4)
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 4, confidence=1.0)


def test_mcnemar_exact_matches_binomial_tails() -> None:
    # b=1, c=9: 2 * (C(10,0) + C(10,1)) / 2^10 = 22/1024
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    assert mcnemar_exact(9, 1) == pytest.approx(22 / 1024)
    # b=2, c=12: 2 * (1 + 14 + 91) / 2^14 = 212/16384 = 0.012939...
    assert mcnemar_exact(2, 12) == pytest.approx(212 / 16384)
    # b=3, c=5: 2 * (1 + 8 + 28 + 56) / 256 = 0.7265625
    assert mcnemar_exact(3, 5) == pytest.approx(0.7265625)
    assert mcnemar_exact(4, 4) == 1.0 and mcnemar_exact(0, 0) == 1.0


def test_paired_comparison_counts_scene_by_scene() -> None:
    n1 = [True, False, False, True, False, True, False, False]
    plan = [True, True, True, False, True, True, False, True]
    result = paired_comparison(n1, plan)
    assert (result.both, result.only_a, result.only_b, result.neither) == (2, 1, 4, 1)
    assert result.p_value == pytest.approx(2 * (1 + 5) / 32)
    with pytest.raises(ValueError, match="same scenes"):
        paired_comparison([True], [True, False])
