# SPDX-License-Identifier: Apache-2.0
"""Build the model a run trains: a fresh preset or a ``from_pretrained`` folder, re-laid-out for the data.

The robot layout (cameras, proprio/action dims, chunk length, image size) comes from the training
set; the networks are layout-agnostic (Cosmos Policy changes no architecture), so an official
checkpoint converted for LIBERO fine-tunes on another arm. Initial weights are loaded strictly and
the load is logged: spec bug 8.1 (upstream silently trained from scratch) cannot happen unnoticed.
Normalization statistics are the training set's.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from cosmos_policy_ros.core.codec import DatasetStatistics
from cosmos_policy_ros.core.config import LayoutConfig, get_preset
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.core.pretrained import STATISTICS_FILE
from cosmos_policy_ros.data.training_set import read_index
from cosmos_policy_ros.train.config import TrainConfig

LOG = logging.getLogger(__name__)
SUCCESS = "success"


def data_layout(data_roots: Sequence[str]) -> LayoutConfig:
    """The layout every training set shares (error naming the first disagreeing set)."""
    layouts = []
    for root in data_roots:
        index = read_index(Path(root))
        size = int(index["image_size"])
        layouts.append(LayoutConfig.for_robot(tuple(index["cameras"]), len(index["joints"]),
                                              int(index["chunk_length"]), (size, size)))
    for root, layout in zip(data_roots[1:], layouts[1:]):
        if layout != layouts[0]:
            raise ValueError(f"training set {root} has layout {layout}, unlike {data_roots[0]}: {layouts[0]}")
    return layouts[0]


def run_statistics(config: TrainConfig) -> DatasetStatistics:
    """The run's normalization statistics: the training sets' or (``statistics_from: init``) the
    initial checkpoint's."""
    if config.statistics_from != "init":
        return training_statistics(list(config.data_roots))
    statistics = DatasetStatistics.from_json(Path(config.init_checkpoint) / STATISTICS_FILE)
    layout = data_layout(list(config.data_roots))
    dims = (statistics.actions.dim, statistics.proprio.dim)
    if dims != (layout.action_dim, layout.proprio_dim):
        raise ValueError(f"statistics_from=init: {config.init_checkpoint} has statistics for action / proprio dims "
                         f"{dims}, the training sets have {(layout.action_dim, layout.proprio_dim)}")
    return statistics


def training_statistics(data_roots: Sequence[str]) -> DatasetStatistics:
    """One set: its ``dataset_statistics.json``. Several: recomputed over their successful training
    episodes (all training episodes where none succeeded), as the converter does for one set."""
    if len(data_roots) == 1:
        return DatasetStatistics.from_json(Path(data_roots[0]) / STATISTICS_FILE)
    chosen: list[tuple[Path, dict]] = []
    train: list[tuple[Path, dict]] = []
    for root in data_roots:
        index = read_index(Path(root))
        entries = [index["episodes"][i] for i in index["splits"]["train"]]
        train += [(Path(root), e) for e in entries]
        chosen += [(Path(root), e) for e in entries if e["outcome"] == SUCCESS]
    chosen = chosen or train
    if not chosen:
        raise ValueError(f"no training episodes in {list(data_roots)} to compute statistics from")
    actions, proprio = [], []
    for root, entry in chosen:
        with np.load(root / entry["file"]) as arrays:
            actions.append(arrays["actions"])
            proprio.append(arrays["proprio"])
    return DatasetStatistics.from_arrays(np.concatenate(actions), np.concatenate(proprio))


def build_model(config: TrainConfig, layout: LayoutConfig, statistics: DatasetStatistics) -> CosmosPolicy:
    """Fresh preset (seeded init) or ``init_checkpoint`` weights, with the data's layout and statistics.

    The config records whether the weights have seen the random crop (this run's ``augment`` or
    the base's), so inference applies the matching centre crop."""
    if not config.init_checkpoint:
        torch.manual_seed(config.seed)  # identical initial weights on every rank
        preset = get_preset(config.model_preset, layout=layout)
        return CosmosPolicy(preset.replace(trained_with_image_aug=config.augment), statistics)
    base = CosmosPolicy.from_pretrained(config.init_checkpoint)
    model = CosmosPolicy(base.config.replace(layout=layout, trained_with_image_aug=(
        config.augment or base.config.trained_with_image_aug)), statistics, base.text_cache)
    for name in ("transformer", "vae"):
        state = getattr(base, name).state_dict()
        getattr(model, name).load_state_dict(state, strict=True)
        LOG.info("loaded %d %s tensors from %s", len(state), name, config.init_checkpoint)
    return model


def check_instructions(model: CosmosPolicy, instructions: set[str], text_embeddings: str) -> None:
    """Load extra text embeddings and make sure every instruction has one (T5 models)."""
    if text_embeddings:
        model.text_cache.load(text_embeddings)
    if model.text_cache.encoder == "hash":
        return
    missing = sorted(t for t in instructions if t not in model.text_cache)
    if missing:
        raise ValueError(f"instructions without a {model.text_cache.encoder} embedding: {missing[:5]} "
                         f"({len(missing)} in all); add them with text_embeddings: <file>")
