# SPDX-License-Identifier: Apache-2.0
"""The demo's frozen random VAE must see the images, and calibrated latents must be normalised."""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from cosmos_policy_ros.core.config import VAEConfig, get_preset
from cosmos_policy_ros.core.layout import FrameKind
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.train.scratch_vae import latent_statistics, reinitialize_encoder


def _raw_model() -> CosmosPolicy:
    config = get_preset("tiny")
    torch.manual_seed(0)
    return CosmosPolicy(config.replace(vae=VAEConfig(base_dim=4, latents_mean=(0.0,) * 16, latents_std=(1.0,) * 16)))


def _images(count: int) -> np.ndarray:
    """Random blocks on a plain background (what differs between sim frames)."""
    rng = np.random.default_rng(0)
    images = np.full((count, 2, 32, 32, 3), 200, dtype=np.uint8)
    for image in images.reshape(-1, 32, 32, 3):
        y, x = rng.integers(0, 24, size=2)
        image[y:y + 8, x:x + 8] = rng.integers(0, 255, size=3)
    return images


def _image_signal(model: CosmosPolicy, images: np.ndarray) -> float:
    """Spread of image-slot latents across images, relative to their overall spread."""
    latents = model.encode_pixels(torch.from_numpy(images), num_slots=model.layout.num_observation_frames)
    frames = latents[:, :, model.layout.indices(FrameKind.IMAGE)]
    return float(frames.std(dim=0).mean() / frames.std())


def test_reinitialized_encoder_latents_follow_the_image():
    images = _images(12)
    model = _raw_model()
    default_signal = _image_signal(model, images)
    reinitialize_encoder(model, seed=0)
    assert _image_signal(model, images) > 5 * default_signal


def test_reinitialization_is_seeded():
    first, second = _raw_model(), _raw_model()
    torch.nn.init.normal_(next(second.vae.parameters()))  # different starting weights
    reinitialize_encoder(first, seed=3)
    reinitialize_encoder(second, seed=3)
    for a, b in zip(first.vae.state_dict().values(), second.vae.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_calibrated_statistics_normalise_image_latents():
    images = _images(16)
    model = _raw_model()
    reinitialize_encoder(model, seed=0)
    mean, std = latent_statistics(model, images)
    calibrated = CosmosPolicy(model.config.replace(vae=dataclasses.replace(model.config.vae, latents_mean=mean,
                                                                           latents_std=std)))
    calibrated.load_state_dict(model.state_dict())
    latents = calibrated.encode_pixels(torch.from_numpy(images), num_slots=calibrated.layout.num_observation_frames)
    frames = latents[:, :, calibrated.layout.indices(FrameKind.IMAGE)]
    per_channel = frames.transpose(0, 1).reshape(16, -1)
    torch.testing.assert_close(per_channel.mean(dim=1), torch.zeros(16), atol=1e-4, rtol=0)
    torch.testing.assert_close(per_channel.std(dim=1), torch.ones(16), atol=1e-3, rtol=0)
