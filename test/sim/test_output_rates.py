# SPDX-License-Identifier: Apache-2.0
"""OutputRates: when the sim's cameras and pose stream publish (sim_arm and the lockstep demo)."""
from __future__ import annotations

from cosmos_policy_ros.sim.session import OutputRates

STEP_S = 0.01


def _due_stamps(rates: OutputRates, what: str, stamps: list[float]) -> list[float]:
    return [round(s, 3) for s in stamps if rates.due(what, s)]


def test_due_at_the_first_stamp_then_once_per_period():
    rates = OutputRates({"camera": 10.0, "poses": 0.0}, start_s=5.0)
    stamps = [5.0 + STEP_S * k for k in range(1, 31)]
    assert _due_stamps(rates, "camera", stamps) == [5.01, 5.1, 5.2, 5.3]
    assert _due_stamps(OutputRates({"poses": 0.0}, 5.0), "poses", stamps) == []  # rate 0: never


def test_no_burst_after_a_skip_and_due_again_after_a_restart():
    rates = OutputRates({"camera": 10.0}, start_s=0.0)
    assert rates.due("camera", 0.01)
    # late: the schedule moves to the late stamp, the missed frames 0.2 .. 0.5 are not made up
    assert _due_stamps(rates, "camera", [0.55, 0.56, 0.6, 0.65, 0.7]) == [0.55, 0.56, 0.65]
    rates.restart(2.0)
    assert _due_stamps(rates, "camera", [2.01, 2.02, 2.1]) == [2.01, 2.1]
