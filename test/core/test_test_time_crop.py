# SPDX-License-Identifier: Apache-2.0
"""Test-time centre crop (spec 5.1) against upstream's ``apply_image_transforms`` (re-implemented
from the upstream source in ``test/official_upstream.py``), and who applies it."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cosmos_policy_ros.core.config import get_preset
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.core.transforms import center_crop_resize, resize_image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from official_upstream import official_apply_image_transforms  # noqa: E402


def _image(size: int, seed: int = 0) -> np.ndarray:
    """A smooth gradient plus noise, so offsets and interpolation weights both show."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:size, 0:size]
    base = np.stack([x * 255 / size, y * 255 / size, (x + y) * 127 / size], axis=-1)
    return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("size", [224, 50, 32, 64])
def test_center_crop_equals_the_official_transform(size: int) -> None:
    image = _image(size)
    ours = center_crop_resize(image)
    assert np.array_equal(ours, official_apply_image_transforms(image[None])[0])
    if size == 224:
        assert int(224 * 0.9 ** 0.5) == 212  # spec 5.1
        assert not np.array_equal(ours, image)


@pytest.mark.parametrize("trained_with_image_aug", [True, False])
def test_model_crops_exactly_when_trained_with_the_random_crop(trained_with_image_aug: bool) -> None:
    """The frames the VAE sees: resized, then centre-cropped iff the checkpoint says it was trained so."""
    torch.manual_seed(0)
    model = CosmosPolicy(get_preset("tiny").replace(trained_with_image_aug=trained_with_image_aug)).eval()
    layout = model.config.layout
    images = {c: _image(48, seed=i) for i, c in enumerate(layout.camera_names)}  # resized to 32 first
    seen = []
    encode = model.encode_pixels
    model.encode_pixels = lambda pixels, *a, **k: seen.append(pixels.clone()) or encode(pixels, *a, **k)
    model.encode_observation(images, np.zeros(layout.proprio_dim), "reach")
    resized = np.stack([resize_image(images[c], layout.image_height, layout.image_width)
                        for c in layout.camera_names])
    expected = official_apply_image_transforms(resized) if trained_with_image_aug else resized
    assert np.array_equal(seen[0][0].numpy(), expected)
