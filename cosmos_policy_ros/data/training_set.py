# SPDX-License-Identifier: Apache-2.0
"""The converted training-set format on disk.

::

    <root>/
      index.json                 format, version, preset, joints, cameras, image_size,
                                 control_rate_hz, chunk_length, gamma, episodes[], splits{}
      dataset_statistics.json    official statistics format (see .statistics)
      episodes/episode_000000.npz
          images        (T, n_cameras, S, S, 3) uint8   cameras in preset order
          proprio       (T, P) float32                  joint positions, raw
          actions       (T, D) float32                  commanded joint reference at the tick, raw (align.py)
          returns       (T,) float32                    scaled Monte-Carlo return 2G-1 of each step
          modes         (T,) uint8                      arbiter mode per step (PolicyStatus.MODE_*)
          timestamps_ns (T,) int64                      control ticks on the node clock

Each ``episodes[]`` entry: ``file``, ``episode_id``, ``source``, ``length``, ``outcome``
(success | failure | unknown), ``is_rollout``, ``instruction``, ``split`` and alignment counts.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_NAME = "cosmos_policy_ros.training_set"
FORMAT_VERSION = 1
INDEX_FILE = "index.json"
EPISODES_DIR = "episodes"
EPISODE_ARRAYS = ("images", "proprio", "actions", "returns", "modes", "timestamps_ns")


def episode_file_name(index: int) -> str:
    return f"{EPISODES_DIR}/episode_{index:06d}.npz"


def write_episode_arrays(root: Path, index: int, arrays: dict[str, np.ndarray]) -> str:
    """Write one episode's arrays (uncompressed npz: fast to load); returns its relative path."""
    missing = sorted(set(EPISODE_ARRAYS) - set(arrays))
    if missing:
        raise ValueError(f"episode {index}: missing arrays {missing}")
    relative = episode_file_name(index)
    (root / EPISODES_DIR).mkdir(parents=True, exist_ok=True)
    np.savez(root / relative, **{name: arrays[name] for name in EPISODE_ARRAYS})
    return relative


def read_episode_arrays(root: Path, relative: str) -> dict[str, np.ndarray]:
    with np.load(Path(root) / relative) as data:
        return {name: data[name] for name in EPISODE_ARRAYS}


def write_index(root: Path, index: dict[str, Any]) -> Path:
    path = Path(root) / INDEX_FILE
    path.write_text(json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION, **index}, indent=2),
                    encoding="utf-8")
    return path


def read_index(root: Path) -> dict[str, Any]:
    """Load and check ``index.json`` of a converted training set."""
    path = Path(root) / INDEX_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{root} is not a converted training set (no {INDEX_FILE}); "
                                "run `cosmos-policy convert` first")
    index = json.loads(path.read_text(encoding="utf-8"))
    if index.get("format") != FORMAT_NAME or index.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: format {index.get('format')!r} v{index.get('version')} is not "
                         f"{FORMAT_NAME!r} v{FORMAT_VERSION}")
    return index
