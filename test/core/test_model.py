# SPDX-License-Identifier: Apache-2.0
"""CosmosPolicy on the tiny preset: roles, save/load, batching, official 2B shapes, conversion safety."""
from __future__ import annotations

import dataclasses
import json
import math
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from fixture_paths import OFFICIAL_DIT_KEYS
from safetensors.torch import save_file

from cosmos_policy_ros.core import sampler
from cosmos_policy_ros.core.config import CosmosPolicyConfig, LayoutConfig, available_presets, get_preset
from cosmos_policy_ros.core.convert_official import (CheckpointError, convert_checkpoint,
                                                     expected_transformer_shapes, is_dropped,
                                                     load_official_file, official_to_diffusers_name)
from cosmos_policy_ros.core.layout import Role
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.presets import load_preset

INSTRUCTION = "put the cube in the bowl"


def _model(seed: int = 0) -> CosmosPolicy:
    torch.manual_seed(seed)
    return CosmosPolicy(get_preset("tiny")).eval()


def _observation(model: CosmosPolicy) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.RandomState(3)
    images = {c: rng.randint(0, 256, (40, 48, 3), dtype=np.uint8) for c in model.config.layout.camera_names}
    return images, rng.uniform(-1, 1, model.config.layout.proprio_dim)


def _all_roles(model: CosmosPolicy, seeds: list[int]) -> dict[Role, torch.Tensor]:
    images, proprio = _observation(model)
    encoded = model.encode_observation(images, proprio, INSTRUCTION)
    policy = model.generate(encoded, Role.POLICY, 3, seeds)
    world = model.generate(encoded, Role.WORLD_MODEL, 1, seeds, model.condition_from_generated(encoded, policy))
    future_cond = model.condition_from_generated(encoded, world)
    return {Role.POLICY: policy, Role.WORLD_MODEL: world,
            Role.VALUE: model.generate(encoded, Role.VALUE, 2, seeds, future_cond),
            Role.VALUE_FUTURE: model.generate(encoded, Role.VALUE_FUTURE, 2, seeds, future_cond)}


def test_save_load_round_trip_is_bit_exact_for_all_roles(tmp_path: Path) -> None:
    model = _model()
    before = _all_roles(model, [5, 6])
    model.save_pretrained(tmp_path)
    loaded = CosmosPolicy.from_pretrained(tmp_path)
    assert not loaded.training and loaded.config == model.config
    after = _all_roles(loaded, [5, 6])
    for role in before:
        assert torch.equal(before[role], after[role]), role


def test_absolute_position_embedding_is_opt_in_and_makes_outputs_depend_on_where(tmp_path: Path) -> None:
    assert not get_preset("cosmos-predict2-2b").dit.absolute_pos_embed  # the official DiT: RoPE only
    base = get_preset("tiny")
    config = base.replace(dit=dataclasses.replace(base.dit, absolute_pos_embed=True))
    torch.manual_seed(0)
    model = CosmosPolicy(config).eval()
    names = {n for n, _ in model.transformer.named_parameters()}
    assert {"learnable_pos_embed.pos_emb_h", "learnable_pos_embed.pos_emb_w"} <= names
    with torch.no_grad():  # trained tables are non-zero; zero ones would change nothing
        for table in (model.transformer.learnable_pos_embed.pos_emb_h, model.transformer.learnable_pos_embed.pos_emb_w):
            table.normal_()
    before = _all_roles(model, [1])
    model.save_pretrained(tmp_path)
    loaded = CosmosPolicy.from_pretrained(tmp_path)
    assert loaded.config.dit.absolute_pos_embed
    after = _all_roles(loaded, [1])
    assert all(torch.equal(before[role], after[role]) for role in before)
    with torch.no_grad():
        loaded.transformer.learnable_pos_embed.pos_emb_w.normal_()
    assert not torch.equal(_all_roles(loaded, [1])[Role.POLICY], after[Role.POLICY])


def test_conditioning_frames_are_kept_and_reads_have_documented_shapes() -> None:
    model = _model()
    latents = _all_roles(model, [1])
    images, proprio = _observation(model)
    encoded = model.encode_observation(images, proprio, INSTRUCTION)
    mask = model.layout.condition_mask(Role.POLICY)
    assert torch.equal(latents[Role.POLICY][:, :, mask], encoded.latents[:, :, mask])
    layout = model.config.layout
    assert model.read_actions(latents[Role.POLICY]).shape == (1, layout.chunk_length, layout.action_dim)
    values = model.read_value(latents[Role.VALUE])
    assert values.shape == (1,) and np.all((values >= 0) & (values <= 1))


def test_batch_of_seeds_equals_single_runs() -> None:
    model = _model()
    seeds = [11, 12, 13]
    noise = sampler.initial_noise(seeds, (2, 3))
    for i, seed in enumerate(seeds):
        assert torch.equal(noise[i], sampler.initial_noise([seed], (2, 3))[0])
    images, proprio = _observation(model)
    encoded = model.encode_observation(images, proprio, INSTRUCTION)
    batch = model.generate(encoded, Role.POLICY, 3, seeds)
    for i, seed in enumerate(seeds):
        single = model.generate(encoded, Role.POLICY, 3, [seed])
        torch.testing.assert_close(batch[i:i + 1], single, rtol=0, atol=1e-5)


def test_act_returns_a_chunk_in_raw_units() -> None:
    model = _model()
    images, proprio = _observation(model)
    result = model.act(images, proprio, INSTRUCTION, seed=2)
    again = model.act(images, proprio, INSTRUCTION, seed=2)
    assert result.actions.shape == (model.config.layout.chunk_length, model.config.layout.action_dim)
    np.testing.assert_array_equal(result.actions, again.actions)
    assert 0.0 <= result.value <= 1.0 and result.timing_ms["total"] > 0


def test_generate_refuses_missing_condition_latents() -> None:
    model = _model()
    images, proprio = _observation(model)
    encoded = model.encode_observation(images, proprio, INSTRUCTION)
    with pytest.raises(ValueError, match="condition_latents"):
        model.generate(encoded, Role.WORLD_MODEL, 1, [0])


def test_training_loss_uses_role_masks_and_backpropagates() -> None:
    model = _model()
    x0 = torch.randn(3, *model.frame_shape[:1], model.layout.num_frames, *model.frame_shape[1:])
    roles = torch.tensor([Role.POLICY, Role.WORLD_MODEL, Role.VALUE_FUTURE])
    text = model.embed_instructions([INSTRUCTION] * 3)
    loss, by_role = model.training_loss(x0, x0, roles, text, torch.Generator().manual_seed(0))
    loss.backward()
    assert set(by_role) == {"policy", "world_model", "value_future"} and math.isfinite(loss.item())
    assert model.transformer.proj_out.weight.grad is not None


def test_official_2b_preset_has_the_official_parameter_names_and_shapes() -> None:
    rows = [line.rstrip("\n").split("\t") for line in OFFICIAL_DIT_KEYS.read_text().splitlines()[1:]]
    mapped = {official_to_diffusers_name(name): json.loads(shape) for name, shape in rows if not is_dropped(name)}
    expected = expected_transformer_shapes(get_preset("cosmos-predict2-2b"))
    assert set(mapped) == set(expected)
    assert all(list(expected[name]) == shape for name, shape in mapped.items())
    count = sum(math.prod(shape) for shape in expected.values())
    print(f"cosmos-predict2-2b DiT parameters: {count:,} in {len(expected)} tensors")
    assert count == sum(math.prod(shape) for shape in mapped.values())


def test_config_json_round_trip_validation_and_presets(tmp_path: Path) -> None:
    for name in available_presets():
        config = get_preset(name)
        config.to_json(tmp_path / "c.json")
        assert CosmosPolicyConfig.from_json(tmp_path / "c.json") == config
    with pytest.raises(ValueError, match="did you mean 'tiny'"):
        get_preset("tiyn")
    with pytest.raises(ValueError, match="layout.proprio_dim=0"):
        LayoutConfig(proprio_dim=0)
    layout = LayoutConfig.from_robot_preset(load_preset("sim_arm"))
    assert layout.camera_names == ("wrist", "primary") and layout.action_dim == 7


class _RunsCode:
    def __reduce__(self):
        return (subprocess.call, ([sys.executable, "-c", "print('pwned')"],))


def test_checkpoint_with_code_running_pickle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"net.x_embedder.proj.1.weight": torch.zeros(1), "payload": _RunsCode()}, f)
    with pytest.raises(CheckpointError, match="refused"):
        load_official_file(path)


def test_converter_writes_a_loadable_folder_and_refuses_unknown_keys(tmp_path: Path) -> None:
    source = _model()
    config = source.config
    inverse = {}
    for name in [line.split("\t")[0] for line in OFFICIAL_DIT_KEYS.read_text().splitlines()[1:]]:
        block = name.split(".")[1] if name.startswith("blocks.") else None
        if block is None or int(block) < config.dit.num_layers:
            inverse[official_to_diffusers_name(name)] = name
    official = {"net_ema." + inverse[k]: v.clone() for k, v in source.transformer.state_dict().items()}
    official.update({"net." + inverse[k]: torch.zeros_like(v) for k, v in source.transformer.state_dict().items()})
    official["net_ema.accum_iteration"] = torch.tensor(3)
    torch.save(official, tmp_path / "official.pt")
    save_file(source.vae.state_dict(), str(tmp_path / "vae.safetensors"))
    folder = convert_checkpoint(tmp_path / "official.pt", tmp_path / "out", config, source.statistics,
                                tmp_path / "vae.safetensors", use_ema=True)
    loaded = CosmosPolicy.from_pretrained(folder)
    for key, value in source.transformer.state_dict().items():
        assert torch.equal(loaded.transformer.state_dict()[key], value), key  # EMA on request (--ema)
    official["net.blocks.0.extra.weight"] = torch.zeros(1)
    torch.save(official, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="blocks.0.extra.weight"):
        convert_checkpoint(tmp_path / "bad.pt", tmp_path / "out2", config, source.statistics,
                           tmp_path / "vae.safetensors")
