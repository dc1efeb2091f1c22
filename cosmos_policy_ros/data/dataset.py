# SPDX-License-Identifier: Apache-2.0
"""Torch dataset over a converted training set: one sample per episode step.

A sample at step t of an episode of T steps (K = chunk length, t' = min(t + K, T - 1)):

* observation images/proprio at t, future images/proprio at t',
* actions t .. t+K-1, padded past the episode end by repeating the last action (upstream
  ``get_action_chunk_with_padding``),
* value target = the scaled return at t' (upstream: the value of s'),

keyed by :mod:`cosmos_policy_ros.core.features`. Values are raw (the model normalizes with
``dataset_statistics.json``).
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from cosmos_policy_ros.core import features as F
from cosmos_policy_ros.core.codec import action_chunk_with_padding, future_step
from cosmos_policy_ros.data.training_set import read_episode_arrays, read_index

EPISODE_CACHE_BYTES = 1 << 30  # decoded episodes kept in memory per worker (a demo set fits whole)
SPLITS = ("train", "val", "all")


class EpisodeDataset(Dataset):
    """Samples of a converted training set (see :mod:`.training_set`).

    Args:
        root: folder written by ``cosmos-policy convert``.
        split: "train", "val" or "all".
        chunk_length: action chunk length K (default: the preset's, from index.json).
    """

    def __init__(self, root: str | Path, split: str = "train", chunk_length: int | None = None) -> None:
        if split not in SPLITS:
            raise ValueError(f"split={split!r} must be one of {SPLITS}")
        self.root = Path(root)
        self.index = read_index(self.root)
        self.chunk_length = int(chunk_length or self.index["chunk_length"])
        if self.chunk_length < 1:
            raise ValueError(f"chunk_length={self.chunk_length} must be >= 1")
        chosen = range(len(self.index["episodes"])) if split == "all" else self.index["splits"][split]
        self.episodes = [self.index["episodes"][i] for i in chosen]
        self._episode_numbers = list(chosen)
        lengths = np.array([e["length"] for e in self.episodes], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(lengths)])
        self._cache: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()
        self._cache_bytes = 0

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _load(self, position: int) -> dict[str, np.ndarray]:
        """Decoded arrays of one episode; samples are drawn at random, so episodes stay decoded
        (least recently used dropped past ``EPISODE_CACHE_BYTES``) instead of re-read per sample."""
        if position in self._cache:
            self._cache.move_to_end(position)
            return self._cache[position]
        data = read_episode_arrays(self.root, self.episodes[position]["file"])
        self._cache[position] = data
        self._cache_bytes += sum(a.nbytes for a in data.values())
        while self._cache_bytes > EPISODE_CACHE_BYTES and len(self._cache) > 1:
            _, dropped = self._cache.popitem(last=False)
            self._cache_bytes -= sum(a.nbytes for a in dropped.values())
        return data

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} out of range [0, {len(self)})")
        position = int(np.searchsorted(self._starts, index, side="right") - 1)
        step = int(index - self._starts[position])
        entry, data = self.episodes[position], self._load(position)
        future = future_step(step, self.chunk_length, entry["length"])
        return {
            F.OBS_IMAGES: torch.from_numpy(data["images"][step]),
            F.FUTURE_IMAGES: torch.from_numpy(data["images"][future]),
            F.OBS_PROPRIO: torch.from_numpy(data["proprio"][step]),
            F.FUTURE_PROPRIO: torch.from_numpy(data["proprio"][future]),
            F.ACTIONS: torch.from_numpy(action_chunk_with_padding(data["actions"], step, self.chunk_length)),
            F.VALUE_TARGET: torch.tensor(data["returns"][future], dtype=torch.float32),
            F.IS_ROLLOUT: torch.tensor(bool(entry["is_rollout"])),
            F.INSTRUCTION: entry["instruction"],
            F.EPISODE_INDEX: torch.tensor(self._episode_numbers[position], dtype=torch.int64),
            F.FRAME_INDEX: torch.tensor(step, dtype=torch.int64),
        }
