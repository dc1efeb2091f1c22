# SPDX-License-Identifier: Apache-2.0
"""Value targets from episode outcomes (METHOD.md section 4.2; upstream
``datasets/dataset_common.py`` ``compute_monte_carlo_returns``).

A sparse terminal reward R (1 success, 0 failure) discounted back from the last step,
G_t = gamma^(T-1-t) * R, mapped to [-1, 1]: 2G/R - 1 for R > 0, else 2G - 1 (so -1 everywhere
for a failure). A sample at step t is trained on the target of its future step
min(t + chunk_length, T - 1) (the value of s').
"""
from __future__ import annotations

import numpy as np


def monte_carlo_returns(num_steps: int, success: bool, gamma: float) -> np.ndarray:
    """Scaled returns of every step of an episode.

    Args:
        num_steps: episode length T (>= 1).
        success: terminal reward 1 (True) or 0 (False).
        gamma: discount in (0, 1].

    Returns:
        (T,) float32 in [-1, 1].
    """
    if num_steps < 1:
        raise ValueError(f"num_steps={num_steps} must be >= 1")
    if not 0.0 < gamma <= 1.0:
        raise ValueError(f"gamma={gamma} must be in (0, 1]")
    if not success:
        return np.full(num_steps, -1.0, dtype=np.float32)
    steps_to_end = np.arange(num_steps - 1, -1, -1, dtype=np.float64)  # T-1-t
    return (2.0 * gamma ** steps_to_end - 1.0).astype(np.float32)


def future_step(step: int | np.ndarray, chunk_length: int, num_steps: int) -> int | np.ndarray:
    """The future step of a sample: min(step + chunk_length, T - 1)."""
    return np.minimum(np.asarray(step) + chunk_length, num_steps - 1)


def sample_value_targets(num_steps: int, success: bool, gamma: float, chunk_length: int) -> np.ndarray:
    """Value target of the sample at every step t: the scaled return at its future step.

    Returns:
        (T,) float32 in [-1, 1].
    """
    returns = monte_carlo_returns(num_steps, success, gamma)
    return returns[future_step(np.arange(num_steps), chunk_length, num_steps)]
