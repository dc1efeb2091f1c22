# SPDX-License-Identifier: Apache-2.0
"""Small converted training sets with known, learnable content, written with the data package's writer.

Action chunk rule: the commanded target of every joint is ``ACTION_GAIN * proprio[0]`` of the step
(proprio is a per-episode random level plus a small ramp), so the policy can learn it from the
proprio frame. Images are flat colours that follow the step (their latents differ per step).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cosmos_policy_ros.core.codec import DatasetStatistics, monte_carlo_returns
from cosmos_policy_ros.core.pretrained import STATISTICS_FILE
from cosmos_policy_ros.data.training_set import write_episode_arrays, write_index

ACTION_GAIN = 0.8
RAMP_PER_STEP = 0.02
CAMERAS = ("wrist", "primary")
INSTRUCTION = "lean the arm like the first joint"


@dataclass(frozen=True)
class SetSpec:
    """Episodes (outcome, is_rollout, split) and sizes of a synthetic training set."""

    episodes: tuple[tuple[str, bool, str], ...] = (
        ("success", False, "train"), ("success", False, "train"), ("success", True, "train"),
        ("failure", True, "train"), ("success", False, "val"), ("failure", True, "val"))
    length: int = 12
    num_joints: int = 3
    chunk_length: int = 4
    image_size: int = 32
    gamma: float = 0.9
    seed: int = 0


def write_training_set(root: Path, spec: SetSpec = SetSpec()) -> Path:
    """Write the set at ``root`` and return it."""
    rng = np.random.default_rng(spec.seed)
    entries, stats_rows = [], []
    for number, (outcome, is_rollout, split) in enumerate(spec.episodes):
        level = rng.uniform(-1, 1)
        ramp = RAMP_PER_STEP * np.arange(spec.length)[:, None] * np.ones(spec.num_joints)
        proprio = (level + ramp).astype(np.float32)
        actions = np.repeat(ACTION_GAIN * proprio[:, :1], spec.num_joints, axis=1).astype(np.float32)
        shades = (np.arange(spec.length) * 17 + 40 * number) % 256
        images = np.broadcast_to(shades[:, None, None, None, None].astype(np.uint8),
                                 (spec.length, len(CAMERAS), spec.image_size, spec.image_size, 3)).copy()
        images[:, 1] = 255 - images[:, 1]
        returns = monte_carlo_returns(spec.length, spec.gamma, 1.0 if outcome == "success" else 0.0)
        relative = write_episode_arrays(root, number, {
            "images": images, "proprio": proprio, "actions": actions, "returns": returns.astype(np.float32),
            "modes": np.zeros(spec.length, np.uint8),
            "timestamps_ns": np.arange(spec.length, dtype=np.int64)})
        entries.append({"file": relative, "episode_id": f"ep{number}", "source": "synthetic",
                        "length": spec.length, "outcome": outcome, "is_rollout": is_rollout,
                        "instruction": INSTRUCTION, "split": split})
        if split == "train" and outcome == "success":
            stats_rows.append((actions, proprio))
    DatasetStatistics.from_arrays(np.concatenate([a for a, _ in stats_rows]),
                                  np.concatenate([p for _, p in stats_rows])).to_json(root / STATISTICS_FILE)
    write_index(root, {
        "preset": "synthetic", "joints": [f"j{i}" for i in range(spec.num_joints)], "cameras": list(CAMERAS),
        "image_size": spec.image_size, "control_rate_hz": 10.0, "chunk_length": spec.chunk_length,
        "gamma": spec.gamma, "episodes": entries,
        "splits": {s: [i for i, e in enumerate(entries) if e["split"] == s] for s in ("train", "val")}})
    return root
