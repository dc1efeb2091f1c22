# SPDX-License-Identifier: Apache-2.0
"""Watchdog over the policy's command stream and the value gate.

The policy must deliver a valid chunk before the *execution horizon* of the chunk it last
delivered runs out: ``t_obs + execute_steps * dt``. The steps after the horizon are look-ahead
for stitching, not a plan the arm may run open loop. The watchdog is armed with that horizon end
(or the trajectory's end, if sooner); when ``now`` passes ``end + margin`` with no new valid chunk
(the policy node died, stalled, or only sent late chunks), the arbiter holds at the measured
position: a *starvation hold* (see ``arbitration``). It is disarmed whenever the arbiter leaves
POLICY: teleop and hold commands are not the policy's to refresh.

The value gate turns the policy's own predicted value (expected success in [0, 1]) into a call
for a human: below the threshold the arbiter HOLDs and raises ``call_for_teleop``. A NaN value
(the model predicted none) passes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from cosmos_policy_ros.settings import check_settings, setting

WATCHDOG_PERIOD_S = 0.02  # how often command_arbiter checks the deadline by default [s]


@dataclass
class CommandWatchdog:
    """Deadline of the current policy trajectory.

    Args:
        margin_s: grace after the execution horizon's end before the watchdog fires (>= 0).
    """

    margin_s: float
    deadline_s: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.margin_s) and self.margin_s >= 0):
            raise ValueError(f"CommandWatchdog.margin_s={self.margin_s!r} must be a finite number >= 0")

    def arm(self, horizon_end_s: float) -> None:
        """A chunk whose executed part ends at ``horizon_end_s`` was just commanded."""
        self.deadline_s = horizon_end_s + self.margin_s

    def disarm(self) -> None:
        self.deadline_s = None

    @property
    def armed(self) -> bool:
        return self.deadline_s is not None

    def expired(self, now_s: float) -> bool:
        """True once ``now_s`` is past the deadline (False while disarmed)."""
        return self.deadline_s is not None and now_s > self.deadline_s


@dataclass(frozen=True)
class ValueGate:
    """Chunks whose predicted value is below ``threshold`` call for teleop (0 disables the gate).

    The one rule and the one home of the value threshold: policy_node flags its chunks with it
    (run-time ``value_threshold``), the arbiter HOLDs on them (``ArbiterConfig.value_threshold``).
    """

    threshold: float = setting(0.0, "Chunks whose predicted value is below this call for teleop (policy_node "
                               "flags them, command_arbiter HOLDs); 0 = off.", min_value=0.0, max_value=1.0)

    def __post_init__(self) -> None:
        check_settings(self)

    def calls_for_teleop(self, value: float) -> bool:
        """True when the gate is on and ``value`` is known (not NaN) and below the threshold."""
        return self.threshold > 0 and not math.isnan(value) and value < self.threshold
