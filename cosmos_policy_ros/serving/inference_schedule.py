# SPDX-License-Identifier: Apache-2.0
"""When policy_node starts its next inference, so the next chunk arrives before this one runs out.

ROS-free. Timeline of one cycle (times on the node clock; H = execute_steps, dt = control period,
L = expected latency = observation age at start + model + publish, m = safety margin)::

    chunk c0 observed    c0 published          next inference starts      c1 published
         t0 ----- L ------> |                     t_start = t0+H*dt-L-m -- L --> | <= t0+H*dt-m
         |<------------------------- H*dt: c0's executed steps --------------------------->|
         |                                                                                  t0+H*dt
         |  step 0   1   2  ...                                               H-1 | H ... K-1 (look-ahead)

The loop never waits longer than needed and never starts early for nothing: starting later means a
fresher observation, starting any later would let the arm enter c0's look-ahead (a deadline miss).
If L >= H*dt - m the next inference starts at once (back to back) and misses are counted. L is a
running maximum of recent latencies (decaying), so one slow inference makes the loop start earlier.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from cosmos_policy_ros.settings import check_settings, setting


@dataclass(frozen=True)
class ScheduleConfig:
    """Timing of the inference loop.

    Args:
        horizon_s: execute_steps * dt: how long one chunk's executed part lasts [s].
        margin_s: the next chunk should arrive this long before the horizon ends [s].
        latency_decay: per-chunk factor by which the remembered worst latency shrinks toward the
            newest one (1 = never forget the worst, 0 = only the newest counts).
    """

    horizon_s: float
    margin_s: float = setting(0.1, "The next chunk should arrive this long before the current chunk's executed "
                              "part ends [s].", min_value=0.0, max_value=60.0)
    latency_decay: float = 0.9

    def __post_init__(self) -> None:
        if not (math.isfinite(self.horizon_s) and self.horizon_s > 0):
            raise ValueError(f"ScheduleConfig.horizon_s={self.horizon_s!r} must be > 0")
        check_settings(self)
        if not 0.0 <= self.latency_decay <= 1.0:
            raise ValueError(f"ScheduleConfig.latency_decay={self.latency_decay!r} must be in [0, 1]")


class InferenceSchedule:
    """Tracks the expected latency and the deadline of the chunk being executed."""

    def __init__(self, config: ScheduleConfig) -> None:
        self.config = config
        self.expected_latency_s = 0.0
        self.deadline_s = math.inf  # when the last published chunk's executed part runs out
        self.deadline_misses = 0

    def on_published(self, observation_stamp_s: float, published_s: float) -> bool:
        """Record one published chunk; returns True when it came after the previous deadline."""
        missed = published_s > self.deadline_s
        self.deadline_misses += int(missed)
        latency_s = max(0.0, published_s - observation_stamp_s)
        decayed = self.config.latency_decay * self.expected_latency_s
        self.expected_latency_s = max(latency_s, decayed + (1.0 - self.config.latency_decay) * latency_s)
        self.deadline_s = observation_stamp_s + self.config.horizon_s
        return missed

    def next_start_s(self) -> float:
        """When to grab the next observation (-inf before the first chunk: start at once)."""
        if math.isinf(self.deadline_s):
            return -math.inf
        return self.deadline_s - self.expected_latency_s - self.config.margin_s

    def reset(self) -> None:
        """Forget the current chunk (after deactivation the next one starts at once)."""
        self.deadline_s = math.inf
