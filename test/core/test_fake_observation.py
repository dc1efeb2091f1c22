# SPDX-License-Identifier: Apache-2.0
"""LayoutConfig.fake_observation: the random input every random-weight bench and model test feeds."""
from __future__ import annotations

import numpy as np

from cosmos_policy_ros.core.config import LayoutConfig


def test_fake_observation_fits_the_layout_and_repeats_per_seed():
    layout = LayoutConfig(platform="custom", camera_names=("wrist", "primary"), proprio_dim=5, action_dim=3,
                          chunk_length=4, image_height=24, image_width=40)
    images, proprio = layout.fake_observation(7)
    assert list(images) == ["wrist", "primary"]
    assert all(i.shape == (24, 40, 3) and i.dtype == np.uint8 for i in images.values())
    assert proprio.shape == (5,) and np.all(np.abs(proprio) <= 1.0)
    again, proprio_again = layout.fake_observation(7)
    assert all(np.array_equal(images[c], again[c]) for c in images) and np.array_equal(proprio, proprio_again)
    other, _ = layout.fake_observation(8)
    assert not np.array_equal(images["wrist"], other["wrist"])
    # the draw order the tests' seeds were chosen with: images camera by camera, then proprio
    rng = np.random.RandomState(7)
    first = rng.randint(0, 256, (24, 40, 3), dtype=np.uint8)
    assert np.array_equal(images["wrist"], first)
