# SPDX-License-Identifier: Apache-2.0
"""Learning works: the tiny model, trained briefly on a synthetic task, beats a constant policy."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cosmos_policy_ros.core import features
from cosmos_policy_ros.core.config import get_preset
from cosmos_policy_ros.core.layout import Role
from cosmos_policy_ros.core.model import CosmosPolicy, EncodedObservation

TRAIN_STEPS = 400
BATCH_SIZE = 16
LEARNING_RATE = 5e-3
EVAL_SAMPLES = 32
EVAL_NUM_STEPS = 5
INSTRUCTION = "move the way the first joint leans"
ACTION_LEVEL = 0.8


def _synthetic_batch(model: CosmosPolicy, size: int, rng: np.random.RandomState) -> dict:
    """Action chunk = ACTION_LEVEL * sign(proprio[0]) everywhere; images carry no information."""
    layout = model.config.layout
    proprio = rng.uniform(-1, 1, (size, layout.proprio_dim)).astype(np.float32)
    sign = np.sign(proprio[:, :1, None])  # (B, 1, 1)
    actions = np.broadcast_to(ACTION_LEVEL * sign, (size, layout.chunk_length, layout.action_dim)).astype(np.float32)
    images = np.zeros((size, len(layout.camera_names), layout.image_height, layout.image_width, 3), np.uint8)
    return {features.OBS_IMAGES: images, features.FUTURE_IMAGES: images, features.OBS_PROPRIO: proprio,
            features.FUTURE_PROPRIO: proprio, features.ACTIONS: actions,
            features.VALUE_TARGET: np.ones(size, np.float32)}


@pytest.mark.train
def test_tiny_model_learns_a_proprio_to_action_map() -> None:
    torch.manual_seed(0)
    model = CosmosPolicy(get_preset("tiny"))
    rng = np.random.RandomState(0)
    generator = torch.Generator().manual_seed(0)
    vae_latents = model.encode_videos(_synthetic_batch(model, 1, rng))  # images are constant: encode once
    optimizer = torch.optim.AdamW(model.transformer.parameters(), lr=LEARNING_RATE)
    text = model.embed_instructions([INSTRUCTION] * BATCH_SIZE)
    roles = torch.full((BATCH_SIZE,), int(Role.POLICY))
    held_out = _synthetic_batch(model, EVAL_SAMPLES, np.random.RandomState(2))
    held_x0, held_cond = model.encode_batch(held_out, vae_latents.expand(EVAL_SAMPLES, -1, -1, -1, -1))
    held_text = model.embed_instructions([INSTRUCTION] * EVAL_SAMPLES)
    held_roles = torch.full((EVAL_SAMPLES,), int(Role.POLICY))

    def held_out_loss() -> float:
        with torch.no_grad():
            return model.training_loss(held_x0, held_cond, held_roles, held_text,
                                       torch.Generator().manual_seed(1))[0].item()

    loss_before = held_out_loss()
    for _ in range(TRAIN_STEPS):
        batch = _synthetic_batch(model, BATCH_SIZE, rng)
        x0, cond = model.encode_batch(batch, vae_latents.expand(BATCH_SIZE, -1, -1, -1, -1))
        loss, _ = model.training_loss(x0, cond, roles, text, generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    loss_after = held_out_loss()
    assert loss_after < 0.5 * loss_before, (loss_before, loss_after)

    model.eval()
    test = _synthetic_batch(model, EVAL_SAMPLES, np.random.RandomState(1))
    x0, _ = model.encode_batch(test, vae_latents.expand(EVAL_SAMPLES, -1, -1, -1, -1))
    encoded = EncodedObservation(latents=x0, text_embedding=model.embed_instructions([INSTRUCTION]),
                                 proprio_normalized=np.zeros(model.config.layout.proprio_dim))
    predicted = np.concatenate([
        model.read_actions(model.generate(encoded, Role.POLICY, EVAL_NUM_STEPS, [i], condition_latents=x0[i:i + 1]))
        for i in range(EVAL_SAMPLES)])
    target = test[features.ACTIONS]
    model_error = np.mean((predicted - target) ** 2)
    constant_error = np.mean((target.mean(0, keepdims=True) - target) ** 2)
    assert model_error < 0.5 * constant_error, (model_error, constant_error)
