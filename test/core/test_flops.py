# SPDX-License-Identifier: Apache-2.0
"""The config-derived FLOP count (MFU's denominator) against torch's own counter on a real forward."""
from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from cosmos_policy_ros.core import flops, networks
from cosmos_policy_ros.core.config import ALOHA_LAYOUT, get_preset
from cosmos_policy_ros.core.layout import LatentLayout

BATCH = 2


def _counted_flops_per_sample(name: str, layout=None) -> float:
    """torch's FLOP count of one forward, built and run on the meta device (shapes only, no memory)."""
    config = get_preset(name, layout)
    with torch.device("meta"):
        transformer = networks.build_transformer(config.dit, config.vae.z_dim)
        frames = LatentLayout(config.layout).num_frames
        x = torch.zeros(BATCH, config.vae.z_dim, frames, config.latent_height, config.latent_width)
        text = torch.zeros(BATCH, config.dit.text_max_tokens, config.dit.text_embed_dim)
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            networks.transformer_velocity(transformer, x, torch.zeros(BATCH, frames), torch.zeros(BATCH, frames), text)
    return counter.get_total_flops() / BATCH


@pytest.mark.parametrize(("name", "layout", "tolerance"), [("tiny", None, 0.02), ("demo-small", None, 0.01),
                                                           ("cosmos-predict2-2b", ALOHA_LAYOUT, 0.002)])
def test_formula_matches_torchs_count_of_the_diffusers_forward(name: str, layout, tolerance: float) -> None:
    formula = flops.forward_flops(get_preset(name, layout), adaln_per_token=True)
    assert formula == pytest.approx(_counted_flops_per_sample(name, layout), rel=tolerance)


def test_aloha_2b_forward_is_8_5_tflop_of_model_work() -> None:
    config = get_preset("cosmos-predict2-2b", ALOHA_LAYOUT)
    assert flops.forward_tokens(config) == 2156  # spec 1.1: 11 latent frames x 14 x 14
    assert flops.forward_flops(config) / 1e12 == pytest.approx(8.53, abs=0.01)
    assert flops.forward_flops(config, text_kv_cached=True) < flops.forward_flops(config)
