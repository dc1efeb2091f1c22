# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures of the trainer tests: one small training set and one VAE-latent cache per session.

The tiny VAE is slow on CPU (diffusers' Wan VAE runs aten::slow_conv3d here), so every run
shares one disk latent cache; runs that use the same seeded tiny VAE reuse it.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from synthetic_set import SetSpec, write_training_set  # noqa: E402

from cosmos_policy_ros.train.config import TrainConfig  # noqa: E402

IMAGE_SIZE = 16
EPISODE_LENGTH = 6


@pytest.fixture(scope="session")
def training_set(tmp_path_factory) -> Path:
    spec = SetSpec(length=EPISODE_LENGTH, image_size=IMAGE_SIZE)
    return write_training_set(tmp_path_factory.mktemp("set"), spec)


@pytest.fixture(scope="session")
def latent_cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("latents")


@pytest.fixture
def make_config(training_set, latent_cache_dir, tmp_path):
    """TrainConfig of a short tiny-model CPU run in ``tmp_path / name``."""
    def make(name: str = "run", **overrides) -> TrainConfig:
        fields = dict(data_roots=(str(training_set),), output_dir=str(tmp_path / name), model_preset="tiny",
                      global_batch_size=4, steps=3, learning_rate=1e-3, warmup_steps=1, decay_steps=20,
                      log_every_steps=1, checkpoint_every_steps=100, val_every_steps=0, val_max_samples=4,
                      val_action_samples=2, augment=False, latent_cache="disk",
                      latent_cache_dir=str(latent_cache_dir), device="cpu")
        fields.update(overrides)
        return TrainConfig(**fields)
    return make
