# SPDX-License-Identifier: Apache-2.0
"""Diffusion maths of Cosmos Policy (spec 3.1-3.4): rectified flow written in EDM sigma-space.

State x_sigma = x0 + sigma * eps. With t = sigma / (1 + sigma) (sigma_data = 1):
c_in = 1 - t, c_skip = 1 - t, c_out = -t, c_noise = t. The network sees c_in * x_sigma (the
rectified-flow interpolant) and predicts a velocity F; x0_hat = c_skip * x_sigma + c_out * F.
Conditioning frames ("frame replace") enter clean with timestep 0 and are copied into x0_hat.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from cosmos_policy_ros.core.config import NoiseConfig

SIGMA_DATA = 1.0  # upstream sigma_data; the VAE latents are normalized to unit scale


@dataclass(frozen=True)
class RectifiedFlowScalings:
    """Preconditioning coefficients, each shaped like the sigma they came from."""

    c_skip: torch.Tensor
    c_out: torch.Tensor
    c_in: torch.Tensor
    c_noise: torch.Tensor


def rectified_flow_scalings(sigma: torch.Tensor) -> RectifiedFlowScalings:
    """Upstream ``RectifiedFlowScaling`` (sigma_data 1, t scaling 1)."""
    t = sigma / (sigma + 1)
    return RectifiedFlowScalings(c_skip=1 - t, c_out=-t, c_in=1 - t, c_noise=t)


def network_input(x_sigma: torch.Tensor, sigma: torch.Tensor, condition_latents: torch.Tensor,
                  condition_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What the network receives for one denoiser evaluation.

    Args:
        x_sigma: (B, C, T, h, w) noisy state.
        sigma: (B,) noise level per sample.
        condition_latents: (B, C, T, h, w) clean latents (used on conditioning frames).
        condition_mask: (B, T) 1 on conditioning frames.
    Returns:
        x_in (B, C, T, h, w) = c_in x_sigma with conditioning frames replaced, and the per-frame
        timesteps (B, T) = c_noise on generated frames, 0 on conditioning frames (sigma_cond = 0).
    """
    scalings = rectified_flow_scalings(sigma.reshape(-1, 1, 1, 1, 1))
    mask = condition_mask[:, None, :, None, None].to(x_sigma.dtype)  # (B, 1, T, 1, 1)
    x_in = x_sigma * scalings.c_in
    x_in = condition_latents / SIGMA_DATA * mask + x_in * (1 - mask)
    timesteps = scalings.c_noise.reshape(-1, 1) * (1 - condition_mask.to(x_sigma.dtype))  # (B, T)
    return x_in, timesteps


def x0_from_velocity(x_sigma: torch.Tensor, velocity: torch.Tensor, sigma: torch.Tensor,
                     condition_latents: torch.Tensor, condition_mask: torch.Tensor) -> torch.Tensor:
    """x0_hat = c_skip x_sigma + c_out F, then conditioning frames copied from the clean latents."""
    scalings = rectified_flow_scalings(sigma.reshape(-1, 1, 1, 1, 1))
    mask = condition_mask[:, None, :, None, None].to(x_sigma.dtype)
    x0 = scalings.c_skip * x_sigma + scalings.c_out * velocity
    return condition_latents * mask + x0 * (1 - mask)


def sample_training_sigma(batch_size: int, num_frames: int, config: NoiseConfig,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """(B,) training noise levels: hybrid log-normal / uniform, times sqrt(num latent frames)."""
    log_normal = torch.exp(config.p_mean + config.p_std * torch.randn(batch_size, generator=generator,
                                                                       dtype=torch.float64))
    uniform = config.uniform_min + (config.uniform_max - config.uniform_min) * torch.rand(
        batch_size, generator=generator, dtype=torch.float64)
    pick_uniform = torch.rand(batch_size, generator=generator, dtype=torch.float64) < config.uniform_prob
    sigma = torch.where(pick_uniform, uniform, log_normal)
    if config.scale_by_sqrt_num_frames:
        sigma = sigma * num_frames ** 0.5
    return sigma.float()


def loss_weight(sigma: torch.Tensor) -> torch.Tensor:
    """lambda(sigma) = (1 + sigma)^2 / sigma^2: turns x0 error into plain velocity MSE."""
    return (1 + sigma) ** 2 / sigma ** 2


def denoising_loss(x0: torch.Tensor, x0_hat: torch.Tensor, sigma: torch.Tensor, loss_mask: torch.Tensor,
                   loss_scale: float) -> torch.Tensor:
    """Per-sample loss: loss_scale * mean over (C, T, h, w) of mask * lambda * (x0 - x0_hat)^2.

    The mean runs over all frames (conditioning frames contribute 0), as upstream.

    Args:
        x0, x0_hat: (B, C, T, h, w).
        sigma: (B,).
        loss_mask: (B, T) 1 on frames that carry loss for the sample's role.
    Returns:
        (B,); the batch loss is its mean.
    """
    weight = loss_weight(sigma.float()).reshape(-1, 1, 1, 1, 1)
    mask = loss_mask[:, None, :, None, None].to(x0.dtype)
    squared = weight * mask * (x0.float() - x0_hat.float()) ** 2
    return loss_scale * squared.flatten(1).mean(1)
