# SPDX-License-Identifier: Apache-2.0
"""The official Cosmos Policy inference sampler (spec 3.5; upstream ``CosmosPolicySampler``).

Karras schedule with rho, then the "2ab" exponential Adams-Bashforth multistep solver on x0,
state in float64, the x0 function called with float32 inputs. One evaluation is reserved for a
final clean step at sigma_min, so N requested evaluations give N - 1 intervals; N = 1 and N = 2
are both a single evaluation at sigma_max (upstream behaviour, kept for parity).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch

X0Function = Callable[[torch.Tensor, float], torch.Tensor]


def karras_sigmas(num_steps: int, sigma_min: float, sigma_max: float, rho: float) -> np.ndarray:
    """float64 (n + 1,) noise levels, n = max(num_steps - 1, 1), from sigma_max down to sigma_min."""
    if num_steps < 1:
        raise ValueError(f"num_steps={num_steps} must be >= 1")
    intervals = num_steps - 1 if num_steps > 1 else 1
    ramp = np.arange(intervals + 1, dtype=np.float64) / intervals
    inv_max, inv_min = sigma_max ** (1.0 / rho), sigma_min ** (1.0 / rho)
    return (inv_max + ramp * (inv_min - inv_max)) ** rho


def initial_noise(seeds: Sequence[int], shape: Sequence[int]) -> torch.Tensor:
    """Standard normal noise, one ``numpy.random.RandomState(seed)`` per batch row.

    Row i depends only on seeds[i], so candidate q's noise is the same whatever the batch size.
    A single seed gives exactly upstream's ``arch_invariant_rand`` for a batch of one.

    Returns:
        float32 (len(seeds), *shape).
    """
    rows = [np.random.RandomState(int(seed)).standard_normal(tuple(shape)).astype(np.float32) for seed in seeds]
    return torch.from_numpy(np.stack(rows))


def official_batch_noise(seed: int, shape: Sequence[int]) -> torch.Tensor:
    """Upstream's noise for a whole batch from one seed (reference only; rows depend on B)."""
    return torch.from_numpy(np.random.RandomState(int(seed)).standard_normal(tuple(shape)).astype(np.float32))


def sample(x0_fn: X0Function, x_sigma_max: torch.Tensor, sigmas: np.ndarray) -> torch.Tensor:
    """Run the "2ab" sampler.

    Args:
        x0_fn: (x float32 (B, ...), sigma) -> x0 estimate (B, ...).
        x_sigma_max: (B, ...) initial state (noise already multiplied by sigma_max).
        sigmas: schedule from ``karras_sigmas``; the last entry is the clean-step sigma.
    Returns:
        float32 (B, ...) x0 sample.
    """
    def evaluate(x: torch.Tensor, sigma: float) -> torch.Tensor:
        return x0_fn(x.float(), float(sigma)).double()

    x = x_sigma_max.double()
    intervals = len(sigmas) - 1
    if intervals == 1:
        return evaluate(x, sigmas[0]).float()
    x0_prev, sigma_prev = None, None
    for i in range(intervals):
        s, t = float(sigmas[i]), float(sigmas[i + 1])
        x0 = evaluate(x, s)
        if x0_prev is None:
            x = (s - t) / s * x0 + t / s * x  # Euler step in x0 form
        else:
            x = _adams_bashforth_2(x, x0, x0_prev, s, t, sigma_prev)
        x0_prev, sigma_prev = x0, s
    return evaluate(x, sigmas[-1]).float()


def _adams_bashforth_2(x: torch.Tensor, x0: torch.Tensor, x0_prev: torch.Tensor, s: float, t: float,
                       s_prev: float) -> torch.Tensor:
    """Second-order exponential multistep step from s to t using the previous x0 (at s_prev)."""
    log_s, log_t, log_prev = -math.log(s), -math.log(t), -math.log(s_prev)
    dt = log_t - log_s
    c2 = (log_prev - log_s) / dt
    phi1 = math.expm1(-dt) / (-dt)
    phi2 = (phi1 - 1) / (-dt)
    b1, b2 = phi1 - phi2 / c2, phi2 / c2
    return math.exp(-dt) * x + dt * (b1 * x0 + b2 * x0_prev)
