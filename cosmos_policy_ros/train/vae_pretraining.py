# SPDX-License-Identifier: Apache-2.0
"""A stand-in for the pretrained Wan VAE at small sizes: a small Wan VAE trained as an autoencoder.

The method freezes a VAE pretrained on web video. At the CPU demo's size (base_dim 4) no such
weights exist, and a randomly initialised encoder is not enough: its latents barely move when a
small object moves (measured with ``experiments/localization_probe.py``: a 6 px square's position was
never learned behind the He-initialised VAE, 2.10x the best constant after 1000 DiT steps, and was
learned behind a VAE trained as here, 0.42x). So the demo trains the VAE on the demo's own camera
frames before the policy stage, then freezes it, as the method freezes its pretrained one.

Objects are a few pixels in the demo's 32 px frames, so a plain reconstruction loss can ignore them
and still look good; pixels of saturated colour (the blocks) weigh ``object_weight`` times more.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from diffusers import AutoencoderKLWan
from tqdm.auto import tqdm


@dataclass(frozen=True)
class VAEPretrainConfig:
    """Autoencoder training of the demo VAE.

    Args:
        steps: optimiser steps (0: keep the random-feature VAE).
        batch_size: frames per step.
        learning_rate: Adam learning rate.
        object_weight: loss weight of saturated pixels relative to the rest.
        saturation_threshold: a pixel whose max - min over RGB (in [0, 1]) exceeds this is an object pixel.
        latent_l2: weight of the L2 penalty on latents (keeps their scale from drifting).
        num_images: observations drawn from the training set (each gives one frame per camera).
    """

    steps: int = 800
    batch_size: int = 32
    learning_rate: float = 2e-3
    object_weight: float = 10.0
    saturation_threshold: float = 0.3
    latent_l2: float = 1e-4
    num_images: int = 1500

    def __post_init__(self) -> None:
        for name in ("batch_size", "num_images"):
            if getattr(self, name) < 1:
                raise ValueError(f"VAEPretrainConfig.{name}={getattr(self, name)} must be >= 1")
        if self.steps < 0:
            raise ValueError(f"VAEPretrainConfig.steps={self.steps} must be >= 0")
        for name in ("learning_rate", "object_weight", "saturation_threshold", "latent_l2"):
            if getattr(self, name) < 0:
                raise ValueError(f"VAEPretrainConfig.{name}={getattr(self, name)} must be >= 0")


def object_weights(frames: torch.Tensor, config: VAEPretrainConfig) -> torch.Tensor:
    """Per-pixel loss weights (B, 1, 1, H, W) for frames (B, 3, 1, H, W) in [-1, 1]."""
    saturation = (frames.amax(dim=1, keepdim=True) - frames.amin(dim=1, keepdim=True)) / 2.0
    return 1.0 + (config.object_weight - 1.0) * (saturation > config.saturation_threshold).float()


def reconstruction_loss(vae: AutoencoderKLWan, frames: torch.Tensor, config: VAEPretrainConfig) -> torch.Tensor:
    """Object-weighted MSE of the posterior mode's reconstruction, plus the latent L2 penalty."""
    latents = vae.encode(frames).latent_dist.mode()
    reconstruction = vae.decode(latents, return_dict=False)[0]
    weighted = ((reconstruction - frames) ** 2 * object_weights(frames, config)).mean()
    return weighted + config.latent_l2 * (latents ** 2).mean()


def pretrain_vae(vae: AutoencoderKLWan, images: np.ndarray, config: VAEPretrainConfig, seed: int,
                 show_progress: bool = True) -> list[float]:
    """Train ``vae`` in place as an autoencoder on single frames, then freeze it; returns the losses.

    Args:
        vae: the model's VAE (its ``latents_mean``/``latents_std`` are not used here: raw latents).
        images: uint8 (N, n_cameras, H, W, 3) observations; every camera's frame is a sample.
        config: step count, batch and loss weights.
        seed: seeds the batch draw.
    """
    frames = torch.from_numpy(images.reshape(-1, *images.shape[-3:])).permute(0, 3, 1, 2)
    frames = (frames.float() / 127.5 - 1.0)[:, :, None]  # (M, 3, 1, H, W): one-frame videos
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(vae.parameters(), lr=config.learning_rate)
    vae.train().requires_grad_(True)
    losses = []
    bar = tqdm(range(config.steps), desc="vae", unit="step", disable=not show_progress)
    for _ in bar:
        batch = frames[torch.randint(len(frames), (config.batch_size,), generator=generator)]
        loss = reconstruction_loss(vae, batch.to(vae.device, vae.dtype), config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    vae.eval().requires_grad_(False)
    return losses
