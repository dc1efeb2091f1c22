# SPDX-License-Identifier: Apache-2.0
"""ROS time fields <-> numbers (stamps.py): the one conversion the nodes, the arbiter's checks and
the bag reader/writer share, on the cases where a hand-written twin goes wrong."""
from __future__ import annotations

import math

import pytest

from cosmos_policy_ros import stamps


def test_fields_to_numbers():
    assert stamps.to_seconds(12, 500_000_000) == 12.5
    assert stamps.to_nanoseconds(12, 500_000_000) == 12_500_000_000
    # integer nanoseconds stay exact where float seconds could not hold them
    assert stamps.to_nanoseconds(1_700_000_000, 123_456_789) == 1_700_000_000_123_456_789


def test_seconds_round_to_the_nearest_nanosecond_and_nanosec_stays_in_range():
    assert stamps.from_seconds(1.9999999996) == (2, 0)  # rounds up across the second
    assert stamps.from_seconds(0.25) == (0, 250_000_000)
    assert stamps.from_seconds(-0.25) == (-1, 750_000_000)  # nanosec in [0, 1e9), as Time requires
    assert stamps.from_nanoseconds(-1) == (-1, 999_999_999)
    for seconds in (0.0, 3.141592653, 1234.000000001):
        sec, nanosec = stamps.from_seconds(seconds)
        assert 0 <= nanosec < stamps.NANOSECONDS_PER_SECOND
        assert stamps.to_seconds(sec, nanosec) == pytest.approx(seconds, abs=1e-9)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_seconds_are_refused(bad):
    with pytest.raises(ValueError, match="finite"):
        stamps.from_seconds(bad)
