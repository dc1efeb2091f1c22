# SPDX-License-Identifier: Apache-2.0
"""``Planner.plan(imagine=True)``: the imagined images are the selected candidate's predicted future
(its last future member in full/fast mode, its policy sample without futures), decoded with the VAE."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pytest
import torch

from cosmos_policy_ros.core.config import get_preset
from cosmos_policy_ros.core.layout import Role
from cosmos_policy_ros.core.model import CosmosPolicy, EncodedObservation
from cosmos_policy_ros.core.planning import Planner, PlannerConfig


class Recording(CosmosPolicy):
    """Keeps every generated sample by (role, seed)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.samples: dict[tuple[Role, int, int], torch.Tensor] = {}

    def generate(self, encoded: EncodedObservation, role: Role, num_steps: int | None, seeds: Sequence[int],
                 condition_latents: torch.Tensor | None = None) -> torch.Tensor:
        latents = super().generate(encoded, role, num_steps, seeds, condition_latents)
        for seed, latent in zip(seeds, latents):
            self.samples[(Role(role), int(num_steps), int(seed))] = latent
        return latents


@pytest.mark.parametrize("mode", ["fast", "q_value"])
def test_imagined_images_are_the_selected_candidates_future(mode: str) -> None:
    torch.manual_seed(0)
    model = Recording(get_preset("tiny")).eval()
    layout = model.config.layout
    images, proprio = layout.fake_observation(1)
    config = PlannerConfig(num_candidates=3, mode=mode, policy_num_steps=1, future_max_num_steps=1,
                           value_max_num_steps=1, value_ensemble_size=1)
    result = Planner(model, None, config).plan(images, proprio, "reach", base_seed=10, imagine=True)
    imagined = result.imagine()
    seed = int(result.seeds[result.selected_index])  # future member 0 of candidate q has seed base + q
    role = Role.WORLD_MODEL if mode == "fast" else Role.POLICY
    encoded = model.encode_observation(images, proprio, "reach", keep_placeholders=True)
    expected = model.decode_future_images(encoded, model.samples[(role, 1, seed)][None])
    assert set(imagined) == set(layout.camera_names)
    for camera in layout.camera_names:
        assert np.array_equal(imagined[camera], expected[camera][0])
