# SPDX-License-Identifier: Apache-2.0
"""Value targets against the spec formula and the upstream fixture cases (codec.json)."""
import json
from pathlib import Path

import numpy as np
import pytest

from cosmos_policy_ros.data.value_targets import future_step, monte_carlo_returns, sample_value_targets

FIXTURE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "upstream" / "codec.json"


def test_success_returns_follow_discounted_formula():
    returns = monte_carlo_returns(5, success=True, gamma=0.9)
    expected = 2 * 0.9 ** np.array([4, 3, 2, 1, 0]) - 1
    np.testing.assert_allclose(returns, expected, rtol=1e-6)
    assert returns[-1] == 1.0


def test_failure_is_minus_one_everywhere():
    assert np.all(monte_carlo_returns(7, success=False, gamma=0.99) == -1.0)


def test_spec_examples():
    # METHOD.md 4.2: gamma 0.99, 16 steps before success -> 0.703; 100 steps -> -0.268
    returns = monte_carlo_returns(101, success=True, gamma=0.99)
    assert returns[100 - 16] == pytest.approx(0.703, abs=1e-3)
    assert returns[0] == pytest.approx(-0.268, abs=1e-3)


@pytest.mark.skipif(not FIXTURE.is_file(), reason="upstream fixtures not present")
@pytest.mark.parametrize("robot", ["libero", "aloha"])
def test_matches_upstream_fixture_cases(robot):
    case = json.loads(FIXTURE.read_text())["cases"][robot]
    n, step, chunk = case["episode_len"], case["step"], case["chunk_size"]
    assert future_step(step, chunk, n) == case["future_frame_idx"]
    targets = sample_value_targets(n, True, case["gamma"], chunk)
    # upstream accumulates in float32; we compute gamma**k in float64 (difference ~3e-6)
    assert targets[step] == pytest.approx(case["value_target"], abs=1e-5)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="gamma"):
        monte_carlo_returns(3, True, 1.5)
    with pytest.raises(ValueError, match="num_steps"):
        monte_carlo_returns(0, True, 0.9)
