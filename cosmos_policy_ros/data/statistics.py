# SPDX-License-Identifier: Apache-2.0
"""Normalization statistics in the official ``dataset_statistics.json`` format (METHOD.md 2.5).

Keys ``actions_{min,max,mean,std,median}`` and ``proprio_{min,max,mean,std,median}``, each a list
of floats of the modality's dimension, computed over every timestep of the given episodes. The
model uses only min/max (per-dimension min-max to [-1, 1]); upstream has no epsilon guard, so a
constant dimension is reported here instead of silently producing NaN later.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

LOG = logging.getLogger(__name__)
STATISTICS_FILE = "dataset_statistics.json"
STAT_NAMES = ("min", "max", "mean", "std", "median")
MODALITIES = ("actions", "proprio")


def modality_statistics(values: np.ndarray) -> dict[str, list[float]]:
    """min/max/mean/std/median per dimension of (N, D) values."""
    if values.ndim != 2 or len(values) == 0:
        raise ValueError(f"statistics need (N, D) values with N > 0, got shape {values.shape}")
    values = values.astype(np.float64)
    funcs = {"min": np.min, "max": np.max, "mean": np.mean, "std": np.std, "median": np.median}
    return {name: funcs[name](values, axis=0).tolist() for name in STAT_NAMES}


def dataset_statistics(actions: Sequence[np.ndarray], proprio: Sequence[np.ndarray]) -> dict[str, list[float]]:
    """The official statistics dict from per-episode (T, D) actions and (T, P) proprio."""
    stats: dict[str, list[float]] = {}
    for modality, arrays in zip(MODALITIES, (actions, proprio)):
        per_dim = modality_statistics(np.concatenate(list(arrays), axis=0))
        constant = [i for i, (lo, hi) in enumerate(zip(per_dim["min"], per_dim["max"])) if lo == hi]
        if constant:
            LOG.warning("%s dimensions %s are constant (max == min): min-max normalization is "
                        "undefined there", modality, constant)
        stats.update({f"{modality}_{name}": value for name, value in per_dim.items()})
    return stats


def write_statistics(stats: dict[str, list[float]], folder: Path) -> Path:
    path = Path(folder) / STATISTICS_FILE
    path.write_text(json.dumps(stats, indent=2), encoding="utf-8")
    return path


def load_statistics(path: Path) -> dict[str, np.ndarray]:
    """Read a statistics file (ours or an official one) as float64 arrays."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {key: np.asarray(value, dtype=np.float64) for key, value in data.items()}
