# SPDX-License-Identifier: Apache-2.0
"""The training objective as an ``nn.Module`` (what DDP/FSDP wrap), with per-sample noise.

``CosmosPolicy.training_loss`` draws sigma and noise for the whole batch from one generator, so
a batch split over ranks would draw different noise than one process. Here every sample gets its
own generator (seeded from the run seed, epoch and mixture index), drawing in the same order as
``training_loss`` does for a batch of one (sigma, then the noise) - the test compares the two -
so the loss trajectory does not depend on the number of processes. The maths (noise
distribution, preconditioning, loss weighting, role masks) is core's.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from cosmos_policy_ros.core import diffusion
from cosmos_policy_ros.core.model import CosmosPolicy


def draw_sigma_and_noise(model: CosmosPolicy, seeds: Sequence[int],
                         latent_shape: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample training sigma (B,) and noise (B, C, T, h, w), sample i from ``seeds[i]`` (CPU)."""
    sigmas, noises = [], []
    for seed in seeds:
        generator = torch.Generator().manual_seed(int(seed))
        sigmas.append(diffusion.sample_training_sigma(1, model.layout.num_frames, model.config.noise,
                                                      generator))
        noises.append(torch.randn((1, *latent_shape), generator=generator))
    return torch.cat(sigmas), torch.cat(noises)


class TrainingObjective(nn.Module):
    """Per-sample denoising loss (spec 3.4) of ``model``; the module a data-parallel wrapper wraps."""

    def __init__(self, model: CosmosPolicy) -> None:
        super().__init__()
        self.model = model

    def forward(self, x0: torch.Tensor, condition_latents: torch.Tensor, roles: torch.Tensor,
                text_embeddings: torch.Tensor, sigma: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """(B,) loss per sample.

        Args:
            x0, condition_latents: (B, C, T, h, w) from ``CosmosPolicy.encode_batch``.
            roles: (B,) int ``Role``.
            text_embeddings: (B, L, D).
            sigma: (B,) and noise (B, C, T, h, w) from ``draw_sigma_and_noise``.
        """
        return self.model.per_sample_loss(x0, condition_latents, roles, text_embeddings, sigma, noise)
