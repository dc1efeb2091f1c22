# SPDX-License-Identifier: Apache-2.0
"""A checkpoint in the released layout converts: ``net.`` chosen as official inference loads it,
TransformerEngine ``_extra_state`` accepted in every form and dropped, official deployment settings."""
from __future__ import annotations

import dataclasses
import pickle
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from cosmos_policy_ros.core.codec import DatasetStatistics
from cosmos_policy_ros.core.config import LAYOUTS, get_preset
from cosmos_policy_ros.core.convert_official import CheckpointError, convert_checkpoint, load_official_file
from cosmos_policy_ros.core.model import CosmosPolicy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from official_upstream import released_state, write_released_checkpoint  # noqa: E402


def _tiny(layout: str | None = None) -> CosmosPolicy:
    torch.manual_seed(0)
    config = get_preset("tiny")
    if layout:
        # 64 px: the smallest latent frame (16 x 8 x 8) that holds ALOHA's 50 x 14 action chunk
        config = config.replace(layout=dataclasses.replace(LAYOUTS[layout], image_height=64, image_width=64))
    return CosmosPolicy(config).eval()


def test_released_layout_converts_with_regular_weights_and_every_extra_state_form(tmp_path: Path) -> None:
    source = _tiny()
    state = released_state(source)
    kinds = {type(v).__name__ for k, v in state.items() if k.endswith("._extra_state")}
    assert kinds == {"Tensor", "BytesIO", "NoneType"}
    path = write_released_checkpoint(source, tmp_path / "Cosmos-Policy-Tiny.pt")
    with pytest.raises(pickle.UnpicklingError):  # what a plain weights-only load says about BytesIO
        torch.load(path, weights_only=True)
    assert not any(k.endswith("_extra_state") for k in load_official_file(path))
    save_file(source.vae.state_dict(), str(tmp_path / "vae.safetensors"))
    folder = convert_checkpoint(path, tmp_path / "out", source.config, source.statistics,
                                tmp_path / "vae.safetensors")
    converted = CosmosPolicy.from_pretrained(folder).transformer.state_dict()
    for key, value in source.transformer.state_dict().items():  # net. (bf16), not net_ema. (0.5)
        assert torch.equal(converted[key], value.to(torch.bfloat16).float()), key
    ema = CosmosPolicy.from_pretrained(convert_checkpoint(path, tmp_path / "ema", source.config, source.statistics,
                                                          tmp_path / "vae.safetensors", use_ema=True))
    assert all(bool((v == 0.5).all()) for v in ema.transformer.state_dict().values())


def test_extra_state_with_code_is_still_refused(tmp_path: Path) -> None:
    class RunsCode:
        def __reduce__(self):
            return (open, (str(tmp_path / "ran"), "w"))

    torch.save({"net.t_embedding_norm._extra_state": RunsCode()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refused"):
        load_official_file(tmp_path / "evil.pt")
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("platform, policy_steps", [("aloha", 10), ("libero", 5), ("robocasa", 5)])
def test_converted_checkpoint_records_the_official_deployment(tmp_path: Path, platform: str,
                                                              policy_steps: int) -> None:
    source = _tiny(platform)
    path = write_released_checkpoint(source, tmp_path / "official.pt")
    save_file(source.vae.state_dict(), str(tmp_path / "vae.safetensors"))
    stats = DatasetStatistics.identity(source.config.layout.action_dim, source.config.layout.proprio_dim)
    config = CosmosPolicy.from_pretrained(convert_checkpoint(path, tmp_path / "out", source.config, stats,
                                                             tmp_path / "vae.safetensors")).config
    sampler = config.sampler
    assert (sampler.policy_num_steps, sampler.world_model_num_steps, sampler.value_num_steps) == (policy_steps, 5, 5)
    assert config.trained_with_image_aug
