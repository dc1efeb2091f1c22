# SPDX-License-Identifier: Apache-2.0
"""The ``from_pretrained`` folder format (no pickle anywhere)::

    folder/
      config.json                   CosmosPolicyConfig
      model.safetensors             "transformer.*" (diffusers names) and "vae.*" tensors
      dataset_statistics.json       official statistics format (actions_min, ..., proprio_median)
      text_embeddings.safetensors   instruction -> embedding cache (texts in the metadata)
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors.torch import load_file, save_file

from cosmos_policy_ros.core.codec import DatasetStatistics
from cosmos_policy_ros.core.config import CosmosPolicyConfig
from cosmos_policy_ros.core.text_cache import TextEmbeddingCache

if TYPE_CHECKING:
    from cosmos_policy_ros.core.model import CosmosPolicy

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
STATISTICS_FILE = "dataset_statistics.json"
TEXT_FILE = "text_embeddings.safetensors"
TRANSFORMER_PREFIX = "transformer."
VAE_PREFIX = "vae."


def write_folder(folder: str | Path, config: CosmosPolicyConfig, transformer_state: dict[str, torch.Tensor],
                 vae_state: dict[str, torch.Tensor], statistics: DatasetStatistics,
                 text_cache: TextEmbeddingCache) -> Path:
    """Write the four files from plain parts (used by ``save_folder`` and the converter)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config.to_json(folder / CONFIG_FILE)
    tensors = {TRANSFORMER_PREFIX + k: v.detach().cpu().contiguous() for k, v in transformer_state.items()}
    tensors.update({VAE_PREFIX + k: v.detach().cpu().contiguous() for k, v in vae_state.items()})
    save_file(tensors, str(folder / WEIGHTS_FILE))
    statistics.to_json(folder / STATISTICS_FILE)
    text_cache.save(folder / TEXT_FILE)
    return folder


def save_folder(model: "CosmosPolicy", folder: str | Path) -> Path:
    return write_folder(folder, model.config, model.transformer.state_dict(), model.vae.state_dict(),
                        model.statistics, model.text_cache)


def load_folder(cls: type["CosmosPolicy"], folder: str | Path) -> "CosmosPolicy":
    """Build ``cls`` from a folder; the weights must match the config exactly (strict load)."""
    folder = Path(folder)
    missing = [name for name in (CONFIG_FILE, WEIGHTS_FILE, STATISTICS_FILE) if not (folder / name).exists()]
    if missing:
        raise FileNotFoundError(f"{folder} is not a CosmosPolicy folder: missing {missing}")
    config = CosmosPolicyConfig.from_json(folder / CONFIG_FILE)
    text_cache = TextEmbeddingCache(config.dit.text_max_tokens, config.dit.text_embed_dim, config.text_encoder)
    if (folder / TEXT_FILE).exists():
        text_cache.load(folder / TEXT_FILE)
    model = cls(config, DatasetStatistics.from_json(folder / STATISTICS_FILE), text_cache)
    tensors = load_file(str(folder / WEIGHTS_FILE))
    for prefix, module in ((TRANSFORMER_PREFIX, model.transformer), (VAE_PREFIX, model.vae)):
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        module.load_state_dict(state, strict=True)
    return model
