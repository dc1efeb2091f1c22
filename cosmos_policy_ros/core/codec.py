# SPDX-License-Identifier: Apache-2.0
"""Codec: non-image quantities <-> latent frames (spec 2.4, 2.5, 4.2).

* Normalization: per-dimension min-max to [-1, 1] with the official statistics JSON
  (``dataset_statistics.json``: ``actions_min/max/mean/std/median``, ``proprio_...``).
  Upstream has no epsilon: a constant dimension (max == min) yields NaN there. Here such a
  dimension is handled explicitly: it normalizes to 0 and un-normalizes to its constant value.
* Tiling: flatten the vector (actions (K, D) row-major), repeat it over the (C, h, w) frame
  flattened channel-major, cut to size. Read-back: mean over the full copies (a partial copy at
  the end is ignored). The value fills the whole frame; read back as the frame mean.
* Value targets: Monte-Carlo returns mapped to [-1, 1].
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

LOG = logging.getLogger(__name__)
STAT_NAMES = ("min", "max", "mean", "std", "median")
MODALITIES = ("actions", "proprio")


@dataclass(frozen=True)
class NormalizationStats:
    """Dataset statistics of one modality; only min/max are used for normalization.

    Args:
        min / max / mean / std / median: (dim,) float64 arrays.
    """

    min: np.ndarray
    max: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    median: np.ndarray

    def __post_init__(self) -> None:
        shapes = {name: np.shape(getattr(self, name)) for name in STAT_NAMES}
        if len(set(shapes.values())) != 1 or len(shapes["min"]) != 1:
            raise ValueError(f"normalization stats shapes differ or are not 1-D: {shapes}")
        bad = np.flatnonzero(~(np.asarray(self.max) >= np.asarray(self.min)))
        if bad.size:
            raise ValueError(f"normalization stats: max < min (or NaN) at dims {bad.tolist()}")
        if np.any(self.max == self.min):
            LOG.warning("normalization stats: constant dims %s normalize to 0 (upstream would give NaN)",
                        np.flatnonzero(self.max == self.min).tolist())

    @property
    def dim(self) -> int:
        return len(self.min)

    def normalize(self, raw: np.ndarray) -> np.ndarray:
        """Raw (..., dim) -> [-1, 1]: 2 (x - min) / (max - min) - 1 (float64)."""
        raw = np.asarray(raw, dtype=np.float64)
        self._check_dim(raw)
        span = self.max - self.min
        constant = span == 0
        scaled = 2.0 * (raw - self.min) / np.where(constant, 1.0, span) - 1.0
        return np.where(constant, 0.0, scaled)

    def unnormalize(self, normalized: np.ndarray) -> np.ndarray:
        """[-1, 1] (..., dim) -> raw: 0.5 (x + 1) (max - min) + min (float64)."""
        normalized = np.asarray(normalized, dtype=np.float64)
        self._check_dim(normalized)
        return 0.5 * (normalized + 1.0) * (self.max - self.min) + self.min

    def _check_dim(self, x: np.ndarray) -> None:
        if x.shape[-1:] != (self.dim,):
            raise ValueError(f"expected last dimension {self.dim}, got shape {x.shape}")


@dataclass(frozen=True)
class DatasetStatistics:
    """Statistics of actions and proprio, in the official JSON format."""

    actions: NormalizationStats
    proprio: NormalizationStats

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> "DatasetStatistics":
        parts = {}
        for modality in MODALITIES:
            missing = [f"{modality}_{s}" for s in STAT_NAMES if f"{modality}_{s}" not in data]
            if missing:
                raise ValueError(f"dataset statistics: missing keys {missing}")
            parts[modality] = NormalizationStats(
                **{s: np.asarray(data[f"{modality}_{s}"], dtype=np.float64) for s in STAT_NAMES})
        return cls(**parts)

    def to_dict(self) -> dict[str, list[float]]:
        return {f"{m}_{s}": np.asarray(getattr(getattr(self, m), s), dtype=np.float64).tolist()
                for m in MODALITIES for s in STAT_NAMES}

    @classmethod
    def from_json(cls, path: str | Path) -> "DatasetStatistics":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_arrays(cls, actions: np.ndarray, proprio: np.ndarray) -> "DatasetStatistics":
        """Statistics over every row of (N, D) actions and (N, P) proprio (upstream: all timesteps)."""
        def stats(x: np.ndarray) -> NormalizationStats:
            x = np.asarray(x, dtype=np.float64)
            return NormalizationStats(min=x.min(0), max=x.max(0), mean=x.mean(0), std=x.std(0),
                                      median=np.median(x, 0))
        return cls(actions=stats(actions), proprio=stats(proprio))

    @classmethod
    def identity(cls, action_dim: int, proprio_dim: int) -> "DatasetStatistics":
        """Stats that map [-1, 1] onto itself (fresh models before a dataset is known)."""
        def unit(dim: int) -> NormalizationStats:
            return NormalizationStats(min=-np.ones(dim), max=np.ones(dim), mean=np.zeros(dim),
                                      std=np.ones(dim), median=np.zeros(dim))
        return cls(actions=unit(action_dim), proprio=unit(proprio_dim))


def tile_into_frame(values: torch.Tensor, frame_shape: tuple[int, int, int]) -> torch.Tensor:
    """Tile flattened vectors over a latent frame.

    Args:
        values: (B, n) normalized values (an action chunk flattened row-major, or proprio).
        frame_shape: (C, h, w) of one latent frame.
    Returns:
        (B, C, h, w): entry j of the channel-major flattened frame is values[:, j mod n].
    """
    size = math.prod(frame_shape)
    repeats = -(-size // values.shape[1])
    tiled = values.repeat(1, repeats)[:, :size]  # (B, size)
    return tiled.reshape(values.shape[0], *frame_shape)


def read_tiled(frame: torch.Tensor, num_values: int) -> torch.Tensor:
    """Mean over the full copies of a tiled vector; the partial copy at the end is ignored.

    Args:
        frame: (B, C, h, w) latent frame.
        num_values: n, length of the tiled vector.
    Returns:
        (B, n).
    """
    flat = frame.reshape(frame.shape[0], -1)
    copies = flat.shape[1] // num_values
    if copies < 1:
        raise ValueError(f"a frame of {flat.shape[1]} values holds no full copy of {num_values}")
    return flat[:, :copies * num_values].reshape(frame.shape[0], copies, num_values).mean(1)


def value_frame(values: torch.Tensor, frame_shape: tuple[int, int, int]) -> torch.Tensor:
    """(B,) values in [-1, 1] -> (B, C, h, w) frames filled with each value."""
    return values.reshape(-1, 1, 1, 1).expand(-1, *frame_shape).clone()


def read_value_raw(frame: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) -> (B,) frame mean, in the [-1, 1] training scale."""
    return frame.reshape(frame.shape[0], -1).mean(1)


def value_to_unit_interval(value: torch.Tensor) -> torch.Tensor:
    """[-1, 1] value -> [0, 1]: clamp((v + 1) / 2, 0, 1), as upstream ``get_action``."""
    return ((value + 1.0) / 2.0).clamp(0.0, 1.0)


def monte_carlo_returns(num_steps: int, gamma: float, terminal_reward: float = 1.0) -> np.ndarray:
    """Discounted sparse-reward returns of one episode, mapped to [-1, 1] (spec 4.2).

    G_t = gamma^(n-1-t) R; mapped 2 G / R - 1 if R > 0 else 2 G - 1. Upstream divides by R, so
    any success score R > 0 gives the full-success curve (spec 8, bug 4); kept for parity.

    Returns:
        (num_steps,) float32.
    """
    if num_steps < 1 or not 0.0 < gamma <= 1.0:
        raise ValueError(f"monte_carlo_returns: num_steps={num_steps} must be >= 1, gamma={gamma} in (0, 1]")
    exponents = np.arange(num_steps - 1, -1, -1, dtype=np.float64)
    returns = terminal_reward * gamma ** exponents
    mapped = 2.0 * returns / terminal_reward - 1.0 if terminal_reward > 0 else 2.0 * returns - 1.0
    return mapped.astype(np.float32)


def future_step(step: int, chunk_length: int, episode_length: int) -> int:
    """Index of the future state s' of a sample: min(step + K, n - 1)."""
    return min(step + chunk_length, episode_length - 1)


def action_chunk_with_padding(actions: np.ndarray, step: int, chunk_length: int) -> np.ndarray:
    """(n, D) episode actions -> (K, D) chunk from ``step``, repeating the last action past the end."""
    rows = np.minimum(np.arange(step, step + chunk_length), len(actions) - 1)
    return np.asarray(actions)[rows]
