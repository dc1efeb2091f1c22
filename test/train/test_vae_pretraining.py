# SPDX-License-Identifier: Apache-2.0
"""The demo VAE's autoencoder training: it must learn to reconstruct small coloured objects, then freeze."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cosmos_policy_ros.core.config import VAEConfig, get_preset
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.train.scratch_vae import reinitialize_encoder
from cosmos_policy_ros.train.vae_pretraining import (VAEPretrainConfig, object_weights, pretrain_vae,
                                                    reconstruction_loss)


def _vae():
    torch.manual_seed(0)
    config = get_preset("tiny").replace(vae=VAEConfig(base_dim=4, latents_mean=(0.0,) * 16, latents_std=(1.0,) * 16))
    model = CosmosPolicy(config)
    reinitialize_encoder(model, seed=0)
    return model.vae


def _scenes(count: int, seed: int) -> np.ndarray:
    """Grey table, one 3 px block of a saturated colour at a random place: (count, 1, 16, 16, 3)."""
    rng = np.random.default_rng(seed)
    images = np.full((count, 1, 16, 16, 3), 150, dtype=np.uint8)
    colours = np.array([[220, 30, 30], [30, 200, 40], [40, 60, 230]], dtype=np.uint8)
    for image in images[:, 0]:
        y, x = rng.integers(0, 13, size=2)
        image[y:y + 3, x:x + 3] = colours[rng.integers(3)]
    return images


def _frames(images: np.ndarray) -> torch.Tensor:
    return (torch.from_numpy(images[:, 0]).permute(0, 3, 1, 2).float() / 127.5 - 1.0)[:, :, None]


def test_object_weights_mark_saturated_pixels_only():
    images = _scenes(1, seed=0)
    weights = object_weights(_frames(images), VAEPretrainConfig(object_weight=10.0))
    block = (images[0, 0].max(-1).astype(int) - images[0, 0].min(-1)) > 100
    assert weights.shape == (1, 1, 1, 16, 16)
    assert torch.equal(weights[0, 0, 0], torch.where(torch.from_numpy(block), 10.0, 1.0))


def test_pretraining_learns_to_reconstruct_held_out_blocks_and_freezes():
    config = VAEPretrainConfig(steps=400, batch_size=8, learning_rate=3e-3)
    vae, held_out = _vae(), _frames(_scenes(16, seed=1))
    # The loss of drawing the empty table: what a VAE that averages the small blocks away scores.
    table = torch.full_like(held_out, 150 / 127.5 - 1.0)
    blocks_ignored = float(((table - held_out) ** 2 * object_weights(held_out, config)).mean())
    losses = pretrain_vae(vae, _scenes(64, seed=0), config, seed=0, show_progress=False)
    with torch.no_grad():
        after = float(reconstruction_loss(vae, held_out, config))
    assert len(losses) == 400
    assert after < 0.7 * blocks_ignored, (blocks_ignored, after)
    assert not vae.training and not any(p.requires_grad for p in vae.parameters())


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="steps"):
        VAEPretrainConfig(steps=-1)
    with pytest.raises(ValueError, match="batch_size"):
        VAEPretrainConfig(batch_size=0)
