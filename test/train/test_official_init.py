# SPDX-License-Identifier: Apache-2.0
"""A converted official-layout checkpoint really initializes fine-tuning (spec bug 8.1).

The fixture DiT comes from ``UPSTREAM_FIXTURES`` (default: the copy in ``test/fixtures/upstream``); it is
converted with ``core/convert_official.py`` and fine-tuned for a few steps.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from fixture_paths import UPSTREAM_FIXTURES
from safetensors.torch import save_file

from cosmos_policy_ros.core.codec import DatasetStatistics
from cosmos_policy_ros.core.config import CosmosPolicyConfig, DiTConfig, get_preset
from cosmos_policy_ros.core.convert_official import convert_checkpoint
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.train.trainer import FINAL_DIR, Trainer

pytestmark = pytest.mark.train
TEXT_TOKENS = 8
MAX_RELATIVE_CHANGE = 0.05  # a few small steps move the weights a little, a re-init moves them ~sqrt(2)


def _relative_distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    diff = sum(float((a[k].float() - b[k].float()).norm() ** 2) for k in a)
    return (diff / sum(float(b[k].float().norm() ** 2) for k in b)) ** 0.5


def _official_folder(tmp_path: Path) -> Path:
    c = json.loads((UPSTREAM_FIXTURES / "dit_tiny.json").read_text())["diffusers"]["config"]
    dit = DiTConfig(num_layers=c["num_layers"], num_attention_heads=c["num_attention_heads"],
                    attention_head_dim=c["attention_head_dim"], mlp_ratio=c["mlp_ratio"],
                    text_embed_dim=c["text_embed_dim"], text_max_tokens=TEXT_TOKENS,
                    adaln_lora_dim=c["adaln_lora_dim"], max_size=tuple(c["max_size"]),
                    patch_size=tuple(c["patch_size"]), rope_scale=tuple(c["rope_scale"]))
    torch.manual_seed(0)  # the seeded tiny VAE every run of this suite uses (shared latent cache)
    tiny = CosmosPolicy(get_preset("tiny"))
    save_file(tiny.vae.state_dict(), str(tmp_path / "vae.safetensors"))
    config = CosmosPolicyConfig(dit=dit, vae=tiny.config.vae, layout=tiny.config.layout, text_encoder="hash")
    stats = DatasetStatistics.identity(config.layout.action_dim, config.layout.proprio_dim)
    return convert_checkpoint(UPSTREAM_FIXTURES / "dit_tiny.safetensors", tmp_path / "official", config, stats,
                              tmp_path / "vae.safetensors")


def test_converted_official_checkpoint_is_loaded_and_fine_tuned(make_config, tmp_path):
    official_dir = _official_folder(tmp_path)
    official = CosmosPolicy.from_pretrained(official_dir).transformer.state_dict()
    trainer = Trainer(make_config("official", init_checkpoint=str(official_dir), steps=3))
    loaded = trainer.model.transformer.state_dict()
    assert all(torch.equal(loaded[k], official[k]) for k in official)  # base weights really loaded
    assert trainer.model.config.layout.proprio_dim == 3  # re-laid-out for the training set
    trainer.run()
    tuned = CosmosPolicy.from_pretrained(Path(trainer.config.output_dir) / FINAL_DIR).transformer.state_dict()
    assert any(not torch.equal(tuned[k], official[k]) for k in official)  # fine-tuning changed them
    torch.manual_seed(1)
    fresh = CosmosPolicy(trainer.model.config).transformer.state_dict()
    assert _relative_distance(tuned, official) < MAX_RELATIVE_CHANGE < _relative_distance(fresh, official)


def test_keeping_the_initial_statistics_refuses_another_robots_dims(make_config, tmp_path):
    official_dir = _official_folder(tmp_path)  # tiny layout's dims; the training set's proprio has 3
    with pytest.raises(ValueError, match="statistics_from=init"):
        Trainer(make_config("official", init_checkpoint=str(official_dir), statistics_from="init"))
