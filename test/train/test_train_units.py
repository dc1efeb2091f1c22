# SPDX-License-Identifier: Apache-2.0
"""Unit checks of the trainer's parts: config, role mixture, LR schedule, per-sample noise, augmentation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cosmos_policy_ros.core.config import get_preset
from cosmos_policy_ros.core.layout import Role
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.train.augment import AugmentDraw, _shift_hue, apply_draw, draw_parameters
from cosmos_policy_ros.train.config import TrainConfig
from cosmos_policy_ros.train.mixture import SampleKind, draw_roles, epoch_layout
from cosmos_policy_ros.train.objective import TrainingObjective, draw_sigma_and_noise
from cosmos_policy_ros.train.optim import lr_factor


def test_config_yaml_overrides_and_errors(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data_roots: [a]\nsteps: 10\naugment: false\n")
    config = TrainConfig.from_yaml(path, ["steps=20", "betas=[0.9, 0.95]", "latent_cache=memory"])
    assert (config.steps, config.betas, config.latent_cache) == (20, (0.9, 0.95), "memory")
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="stpes.*steps"):
        TrainConfig.from_yaml(path, ["stpes=3"])
    with pytest.raises(ValueError, match="latent_cache='disk' needs augment: false"):
        TrainConfig(data_roots=("a",), latent_cache="disk")
    with pytest.raises(ValueError, match="ema_decay=1.0"):
        TrainConfig(data_roots=("a",), ema_decay=1.0)


def test_epoch_layout_follows_upstream_scaling():
    assert epoch_layout(100, 30, 10, 0.5, 0.5) == epoch_layout(100, 30, 10, 0.5, 0.5)
    layout = epoch_layout(100, 30, 10, 0.5, 0.5)  # failures revisited to balance successes, then demos
    assert (layout.demos, layout.success_rollouts, layout.failure_rollouts) == (100, 50, 50)
    layout = epoch_layout(10, 30, 10, 0.5, 0.5)  # demos revisited to match the rollouts
    assert (layout.demos, layout.success_rollouts, layout.failure_rollouts) == (60, 30, 30)
    assert epoch_layout(10, 0, 0, 0.5, 0.5).length == 10  # demos only: all policy
    planning = epoch_layout(100, 400, 500, 0.1, 0.5)
    assert planning.demos / planning.length == pytest.approx(0.1, abs=0.01)
    expected = [SampleKind.DEMO, SampleKind.DEMO, SampleKind.SUCCESS_ROLLOUT, SampleKind.SUCCESS_ROLLOUT,
                SampleKind.FAILURE_ROLLOUT]
    assert [layout.kind_of(i) for i in (0, 59, 60, 89, 90)] == expected


def test_roles_are_a_function_of_seed_epoch_and_index():
    kinds = [SampleKind.DEMO] * 100 + [SampleKind.FAILURE_ROLLOUT] * 2000
    roles = draw_roles(kinds, list(range(len(kinds))), epoch=3, seed=7, world_model_prob=0.5,
                       value_role=Role.VALUE_FUTURE)
    assert (roles[:100] == Role.POLICY).all()
    rollout = roles[100:]
    assert set(rollout.tolist()) == {Role.WORLD_MODEL, Role.VALUE_FUTURE}
    assert (rollout == Role.WORLD_MODEL).float().mean().item() == pytest.approx(0.5, abs=0.04)
    again = draw_roles(kinds[100:110], list(range(100, 110)), epoch=3, seed=7, world_model_prob=0.5,
                       value_role=Role.VALUE_FUTURE)
    assert torch.equal(again, rollout[:10])


def test_lr_schedule_warms_up_decays_then_holds():
    config = TrainConfig(data_roots=("a",), warmup_steps=10, decay_steps=110, warmup_start_factor=1e-6,
                         decay_min_factor=0.3, final_factor=0.06)
    assert lr_factor(0, config) == pytest.approx(1e-6)
    assert lr_factor(10, config) == pytest.approx(1.0)
    assert lr_factor(60, config) == pytest.approx(0.65)
    assert lr_factor(109, config) == pytest.approx(0.307)
    assert lr_factor(110, config) == lr_factor(10_000, config) == 0.06


def test_per_sample_noise_objective_equals_the_model_loss_for_one_sample():
    torch.manual_seed(0)
    model = CosmosPolicy(get_preset("tiny"))
    x0 = torch.randn(1, *model.frame_shape[:1], model.layout.num_frames, *model.frame_shape[1:])
    text = model.embed_instructions(["pick the cube"])
    for role in (Role.POLICY, Role.WORLD_MODEL, Role.VALUE):
        roles = torch.tensor([int(role)])
        expected, _ = model.training_loss(x0, x0, roles, text, torch.Generator().manual_seed(42))
        sigma, noise = draw_sigma_and_noise(model, [42], x0.shape[1:])
        assert TrainingObjective(model)(x0, x0, roles, text, sigma, noise).item() == expected.item()
    sigma_a, noise_a = draw_sigma_and_noise(model, [1, 2], x0.shape[1:])
    sigma_b, noise_b = draw_sigma_and_noise(model, [2], x0.shape[1:])
    assert sigma_a[1] == sigma_b[0] and torch.equal(noise_a[1], noise_b[0])  # independent of the batch split


def test_augmentation_is_one_seeded_draw_for_every_frame():
    rng = np.random.default_rng(0)
    image = torch.from_numpy(rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8))
    frames = torch.cat([image, image, torch.zeros_like(image)])
    draw = draw_parameters(32, 32, torch.Generator().manual_seed(5))
    assert draw == draw_parameters(32, 32, torch.Generator().manual_seed(5))
    assert draw.crop_size == (30, 30)  # round(sqrt(0.9) * 32), aspect 1
    out = apply_draw(frames, draw)
    assert torch.equal(out[0], out[1]) and not torch.equal(out[0], image[0])
    assert out[2].max() == 0  # black stays black
    identity = AugmentDraw(0, 0, (32, 32), 0.0, 1.0, 1.0, 1.0, 0.0)
    assert (apply_draw(image, identity).int() - image.int()).abs().max() <= 1
    x = torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(_shift_hue(x, 0.0), x, atol=1e-5, rtol=0)
    torch.testing.assert_close(_shift_hue(_shift_hue(x, 0.3), 0.7), x, atol=1e-4, rtol=0)
