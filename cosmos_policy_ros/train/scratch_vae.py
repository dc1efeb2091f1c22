# SPDX-License-Identifier: Apache-2.0
"""A model whose VAE starts from scratch: re-initialised, trained on the data's frames, calibrated.

The method freezes a pretrained Wan VAE. No pretrained weights exist at small sizes such as the CPU
demo's (base_dim 4), and diffusers' default initialisation makes a randomly initialised encoder nearly
blind: its latents are dominated by biases, so two different camera images differ by about 0.3 %
of the latent scale (measured on sim images). The demo therefore initialises the VAE convs
He-normal with zero biases (a random-feature encoder whose output follows the image), trains it
as an autoencoder on the demo frames (``vae_pretraining``), then sets the config's per-channel
``latents_mean`` / ``latents_std`` to the statistics of the training images, as the official
tokenizer's statistics normalise Wan latents. The VAE stays frozen from then on; the trainer starts
from the folder written here (``init_checkpoint``).
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import torch

from cosmos_policy_ros.core.codec import DatasetStatistics
from cosmos_policy_ros.core.config import CosmosPolicyConfig
from cosmos_policy_ros.core.layout import FrameKind
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.core.pretrained import STATISTICS_FILE
from cosmos_policy_ros.data.training_set import read_episode_arrays, read_index
from cosmos_policy_ros.train.model_init import data_layout
from cosmos_policy_ros.train.vae_pretraining import VAEPretrainConfig, pretrain_vae

HE_GAIN = 2.0  # variance gain of He initialisation (keeps activations' scale through SiLU stacks)


def reinitialize_encoder(model: CosmosPolicy, seed: int) -> None:
    """He-normal conv weights and zero biases in the whole VAE (deterministic under ``seed``)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.vae.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Conv3d)):
                fan_in = module.weight[0].numel()
                module.weight.normal_(0.0, math.sqrt(HE_GAIN / fan_in), generator=generator)
                if module.bias is not None:
                    module.bias.zero_()


def sample_images(data_root: Path, count: int, seed: int) -> np.ndarray:
    """uint8 (count, n_cameras, H, W, 3): random steps of random training episodes."""
    index = read_index(data_root)
    entries = [index["episodes"][i] for i in index["splits"]["train"]] or index["episodes"]
    rng = np.random.default_rng(seed)
    images = []
    for position in rng.integers(len(entries), size=count):
        episode = read_episode_arrays(data_root, entries[int(position)]["file"])
        images.append(episode["images"][rng.integers(len(episode["images"]))])
    return np.stack(images)


def latent_statistics(model: CosmosPolicy, images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (mean, std) of the raw VAE posterior mode over the image slots of ``images``.

    Args:
        model: a model whose config has ``latents_mean`` 0 and ``latents_std`` 1 (raw latents out).
        images: uint8 (B, n_cameras, H, W, 3).
    """
    layout = model.layout
    latents = model.encode_pixels(torch.from_numpy(images), num_slots=layout.num_observation_frames)
    image_frames = latents[:, :, layout.indices(FrameKind.IMAGE)]  # (B, C, n_cameras, h, w)
    mean = image_frames.mean(dim=(0, 2, 3, 4))
    std = image_frames.std(dim=(0, 2, 3, 4))
    return tuple(float(x) for x in mean), tuple(float(x) for x in std)


def build_initial_model(config: CosmosPolicyConfig, data_root: Path, calibration_images: int,
                        seed: int, vae_pretrain: VAEPretrainConfig | None = None) -> CosmosPolicy:
    """A fresh demo model for ``data_root``: the data's layout, a VAE trained on its frames, calibrated latents.

    Args:
        config: model sizes (``config/demo/model.json``); its layout is replaced by the data's.
        data_root: a converted training set (``cosmos-policy convert`` output).
        calibration_images: observations used for the latent statistics.
        seed: seeds the DiT initialisation, the VAE initialisation, its training and the image draws.
        vae_pretrain: the VAE's autoencoder training (None: ``VAEPretrainConfig()``; 0 steps keeps
            the random-feature VAE).
    """
    vae_pretrain = vae_pretrain or VAEPretrainConfig()
    z_dim = config.vae.z_dim
    raw_vae = dataclasses.replace(config.vae, latents_mean=(0.0,) * z_dim, latents_std=(1.0,) * z_dim)
    statistics = DatasetStatistics.from_json(data_root / STATISTICS_FILE)
    config = config.replace(layout=data_layout([str(data_root)]), vae=raw_vae)
    torch.manual_seed(seed)
    model = CosmosPolicy(config, statistics)
    reinitialize_encoder(model, seed)
    if vae_pretrain.steps:
        pretrain_vae(model.vae, sample_images(data_root, vae_pretrain.num_images, seed + 1), vae_pretrain, seed)
    mean, std = latent_statistics(model, sample_images(data_root, calibration_images, seed))
    # The VAE reads its normalisation from its own (diffusers) config: build the final model anew.
    calibrated_vae = dataclasses.replace(raw_vae, latents_mean=mean, latents_std=std)
    calibrated = CosmosPolicy(config.replace(vae=calibrated_vae), statistics)
    calibrated.load_state_dict(model.state_dict())
    return calibrated
