# SPDX-License-Identifier: Apache-2.0
"""Observation assembly for policy_node: the newest message per topic, within max age and skew.

ROS-free apart from duck-typed message fields, so it is unit-tested without rclpy. Sensor
callbacks only :meth:`LatestMessages.store` (cheap, under a lock); the inference worker calls
:meth:`LatestMessages.assemble`, which decides whether the newest messages make one usable
observation and says which topic is missing, stale or skewed when they do not.

The observation's time is the stamp of its OLDEST part: step 0 of the chunk is meant for a
moment at which every input had already been captured, so the arbiter never treats a chunk as
fresher than its inputs (a slightly older anchor only drops one more past step).
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

from cosmos_policy_ros.settings import check_settings, setting


@dataclass(frozen=True)
class ObservationLimits:
    """How fresh and how simultaneous the parts of one observation must be.

    Args:
        max_age_s: the oldest part may be at most this old at assembly time [s].
        max_skew_s: newest stamp minus oldest stamp across the parts [s].
    """

    max_age_s: float = setting(0.5, "Oldest accepted observation part [s].", min_value=0.001, max_value=60.0)
    max_skew_s: float = setting(0.2, "Largest stamp spread across the parts [s].", min_value=0.001, max_value=60.0)

    def __post_init__(self) -> None:
        check_settings(self)


@dataclass(frozen=True)
class StampedMessage:
    """A stored message with its header stamp [s] and a per-topic arrival counter."""

    message: Any
    stamp_s: float
    count: int


@dataclass(frozen=True)
class Assembly:
    """Result of :meth:`LatestMessages.assemble`.

    ``messages`` maps topic -> message when ``ok``; otherwise ``reason`` names the topic at fault.
    ``stamp_s`` is the oldest part's stamp and ``age_s`` its age (NaN when there is no message).
    ``counts`` identifies the messages used (per-topic arrival counters).
    """

    ok: bool
    reason: str
    messages: dict[str, Any]
    stamp_s: float
    age_s: float
    counts: dict[str, int]


class LatestMessages:
    """Thread-safe store of the newest message per topic, with a wake-up for a waiting worker.

    Args:
        topics: the topics an observation needs (every one must be present).
    """

    def __init__(self, topics: tuple[str, ...]) -> None:
        if not topics or len(set(topics)) != len(topics):
            raise ValueError(f"LatestMessages: topics={topics!r} must be non-empty and unique")
        self.topics = topics
        self._latest: dict[str, StampedMessage] = {}
        self._counts = dict.fromkeys(topics, 0)
        self._changed = threading.Condition()

    def store(self, topic: str, message: Any, stamp_s: float) -> None:
        """Keep ``message`` as the newest on ``topic`` (called from sensor callbacks)."""
        with self._changed:
            self._counts[topic] += 1
            self._latest[topic] = StampedMessage(message, stamp_s, self._counts[topic])
            self._changed.notify_all()

    def wait_for_new(self, used: dict[str, int], timeout_s: float) -> bool:
        """Block until every topic has a message newer than the ones in ``used`` (or timeout).

        Returns:
            True when every topic has something new (the model never runs twice on the same input).
        """
        def fresh() -> bool:
            return all(self._counts[t] > used.get(t, 0) for t in self.topics)

        with self._changed:
            return self._changed.wait_for(fresh, timeout=timeout_s)

    def assemble(self, now_s: float, limits: ObservationLimits) -> Assembly:
        """The newest message per topic if all exist, are fresh enough and close enough in time."""
        with self._changed:
            latest = dict(self._latest)
        missing = [t for t in self.topics if t not in latest]
        if missing:
            return Assembly(False, f"no message yet on {', '.join(missing)}", {}, math.nan, math.nan, {})
        stamps = {t: latest[t].stamp_s for t in self.topics}
        oldest = min(self.topics, key=stamps.__getitem__)
        newest = max(self.topics, key=stamps.__getitem__)
        age_s = now_s - stamps[oldest]
        counts = {t: latest[t].count for t in self.topics}
        messages = {t: latest[t].message for t in self.topics}
        if abs(age_s) > limits.max_age_s:  # a stamp far in the future is a clock fault
            reason = f"stale {oldest}: age {age_s:.3f} s outside +-{limits.max_age_s:.3f} s"
            return Assembly(False, reason, {}, stamps[oldest], age_s, counts)
        skew_s = stamps[newest] - stamps[oldest]
        if skew_s > limits.max_skew_s:
            reason = (f"skew {skew_s:.3f} s > max {limits.max_skew_s:.3f} s between {oldest} "
                      f"and {newest}")
            return Assembly(False, reason, {}, stamps[oldest], age_s, counts)
        return Assembly(True, "", messages, stamps[oldest], age_s, counts)
