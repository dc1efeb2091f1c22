# SPDX-License-Identifier: Apache-2.0
"""A short history of measured joint states, to look up the state at an observation's time.

Delta action spaces are relative to the state *at the observation* the chunk was computed from,
which is older than the newest joint state when the chunk arrives; this buffer keeps the last
few seconds so the arbiter can pick the sample nearest to the observation stamp.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

DEFAULT_CAPACITY = 512


@dataclass(frozen=True)
class JointSample:
    """One measured state: time [s], positions (D,), velocities (D,) or None when not measured."""

    stamp_s: float
    positions: np.ndarray
    velocities: np.ndarray | None


class JointStateBuffer:
    """Keeps the newest ``capacity`` samples in arrival order."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"JointStateBuffer capacity={capacity} must be >= 1")
        self._samples: deque[JointSample] = deque(maxlen=capacity)

    def add(self, sample: JointSample) -> None:
        self._samples.append(sample)

    @property
    def latest(self) -> JointSample | None:
        return self._samples[-1] if self._samples else None

    def nearest(self, stamp_s: float) -> JointSample | None:
        """The sample whose stamp is closest to ``stamp_s`` (None when empty)."""
        if not self._samples:
            return None
        stamps = np.fromiter((s.stamp_s for s in self._samples), dtype=np.float64, count=len(self._samples))
        return self._samples[int(np.argmin(np.abs(stamps - stamp_s)))]
