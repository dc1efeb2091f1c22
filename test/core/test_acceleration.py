# SPDX-License-Identifier: Apache-2.0
"""Inference levers (issue 22) on the tiny preset: each within bf16 noise of the plain path, and
the ones that claim to remove work remove it (forwards, text projections and VAE encodes counted)."""
from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import pytest
import torch

from cosmos_policy_ros.core import acceleration
from cosmos_policy_ros.core.acceleration import InferenceOptions
from cosmos_policy_ros.core.config import get_preset
from cosmos_policy_ros.core.layout import Role
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.core.planning import Planner, PlannerConfig

INSTRUCTION = "put the cube in the bowl"
SEEDS = [4, 5, 6]
PLAIN = InferenceOptions(text_kv_cache=False, frame_modulation=False)
FP32_TOLERANCE = 1e-4      # the same math in another order (broadcast K/V, padded batch, fused kernels)
BF16_RELATIVE_TOLERANCE = 0.05  # bf16 weights: 8 mantissa bits through 2 blocks and 3 sampler steps
SMALL_PLAN = dict(num_candidates=3, policy_num_steps=2, future_ensemble_size=2, future_max_num_steps=2,
                  value_ensemble_size=2, value_max_num_steps=2)


def _model(options: InferenceOptions = PLAIN) -> CosmosPolicy:
    torch.manual_seed(0)
    return CosmosPolicy(get_preset("tiny")).eval().accelerate(options)



def _policy_sample(model: CosmosPolicy, seeds: list[int] = SEEDS) -> torch.Tensor:
    images, proprio = model.config.layout.fake_observation(3)
    encoded = model.encode_observation(images, proprio, INSTRUCTION)
    return model.generate(encoded, Role.POLICY, 3, seeds)


@contextmanager
def _counting_calls(module: torch.nn.Module) -> Iterator[list[torch.Size]]:
    """Shapes of the first input (positional or keyword) of every forward of ``module`` inside the block."""
    shapes: list[torch.Size] = []

    def hook(_module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        shapes.append((args[0] if args else next(iter(kwargs.values()))).shape)

    handle = module.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield shapes
    finally:
        handle.remove()


def test_text_kv_cache_matches_the_plain_cross_attention_and_projects_the_text_once_per_decision() -> None:
    plain, cached = _model(PLAIN), _model(dataclasses.replace(PLAIN, text_kv_cache=True))
    torch.testing.assert_close(_policy_sample(cached), _policy_sample(plain), atol=FP32_TOLERANCE, rtol=0)

    config = PlannerConfig(**SMALL_PLAN)
    images, proprio = plain.config.layout.fake_observation(3)
    counts = {}
    for name, model in (("plain", plain), ("cached", cached)):
        first_block = model.transformer.transformer_blocks[0]
        with _counting_calls(first_block.attn2.to_k) as text_projections, \
                _counting_calls(model.transformer) as forwards:
            result = Planner(model, config=config).plan(images, proprio, INSTRUCTION, base_seed=0)
        counts[name] = (len(text_projections), len(forwards), result)
    (plain_k, plain_forwards, plain_result), (cached_k, cached_forwards, cached_result) = counts.values()
    assert cached_forwards == plain_forwards > 1
    assert plain_k == plain_forwards  # once per forward (per block) without the cache
    assert cached_k == 1  # once per decision with it
    np.testing.assert_allclose(cached_result.candidate_actions, plain_result.candidate_actions, atol=1e-3)


def test_per_frame_modulation_matches_per_token_and_runs_once_per_frame() -> None:
    plain, per_frame = _model(PLAIN), _model(dataclasses.replace(PLAIN, frame_modulation=True))
    counts = {}
    for name, model in (("plain", plain), ("per_frame", per_frame)):
        with _counting_calls(model.transformer.transformer_blocks[0].norm1.linear_1) as rows:
            sample = _policy_sample(model, seeds=[4])
        counts[name] = (rows[0], sample)
    (token_shape, reference), (frame_shape, sample) = counts.values()
    frames = per_frame.layout.num_frames
    assert token_shape[:2] == (1, frames * 4) and frame_shape[:2] == (1, frames)  # tiny: 2x2 patches per frame
    torch.testing.assert_close(sample, reference, atol=FP32_TOLERANCE, rtol=0)
    assert not any(norm.tokens_per_frame for block in per_frame.transformer.transformer_blocks
                   for norm in (block.norm1, block.norm2, block.norm3))  # training sees diffusers' path


def test_one_vae_encode_per_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model(InferenceOptions())
    encodes = []
    original = model.vae.encode
    monkeypatch.setattr(model.vae, "encode", lambda pixels: encodes.append(pixels.shape) or original(pixels))
    images, proprio = model.config.layout.fake_observation(3)
    Planner(model, config=PlannerConfig(**SMALL_PLAN)).plan(images, proprio, INSTRUCTION, base_seed=0)
    assert len(encodes) == 1 and encodes[0][0] == 1


def test_bf16_weights_stay_within_bf16_noise_of_float32() -> None:
    bf16 = _model(InferenceOptions(dtype="bfloat16"))
    assert {p.dtype for p in bf16.transformer.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in bf16.vae.parameters()} == {torch.float32}
    reference, sample = _policy_sample(_model(PLAIN)), _policy_sample(bf16)
    relative = (sample - reference).norm() / reference.norm()
    assert 0 < relative < BF16_RELATIVE_TOLERANCE


@pytest.mark.parametrize("backends", [("math",), ("flash", "math")])
def test_each_cpu_attention_backend_matches_the_default(backends: tuple[str, ...]) -> None:
    chosen = _model(InferenceOptions(attention_backends=backends))
    torch.testing.assert_close(_policy_sample(chosen), _policy_sample(_model(PLAIN)), atol=FP32_TOLERANCE, rtol=0)


def test_an_attention_backend_the_device_lacks_is_really_enforced() -> None:
    """Efficient attention has no CPU kernel: if the restriction were ignored this would run."""
    with pytest.raises(RuntimeError, match="No viable backend"):
        _policy_sample(_model(InferenceOptions(attention_backends=("efficient",))))


def test_batch_buckets_pad_calls_to_a_static_size_without_changing_the_samples() -> None:
    bucketed = _model(InferenceOptions(batch_buckets=(1, 4, 8)))
    with _counting_calls(bucketed.transformer) as shapes:
        sample = _policy_sample(bucketed)
    assert {s[0] for s in shapes} == {4}
    torch.testing.assert_close(sample, _policy_sample(_model(PLAIN)), atol=FP32_TOLERANCE, rtol=0)


def test_compiled_blocks_with_static_buckets_match_eager() -> None:
    options = InferenceOptions(compile=True, batch_buckets=(4,))
    compiled = _model(options)
    assert all(block._compiled_call_impl is not None for block in compiled.transformer.transformer_blocks)
    assert set(compiled.state_dict()) == set(_model(PLAIN).state_dict())  # keys untouched by compile
    with _counting_calls(compiled.transformer) as forwards:  # hooks on the transformer still run
        sample = _policy_sample(compiled)
    assert len(forwards) == 3
    torch.testing.assert_close(sample, _policy_sample(_model(PLAIN)), atol=FP32_TOLERANCE, rtol=0)


def test_cuda_graphs_are_only_asked_for_on_cuda() -> None:
    """CPU can only check the code path: graphs are skipped on CPU, requested on CUDA."""
    options = InferenceOptions(compile=True, cuda_graphs=True)
    assert acceleration.compile_mode(options, torch.device("cpu")) == "default"
    assert acceleration.compile_mode(options, torch.device("cuda")) == "reduce-overhead"
    assert acceleration.compile_mode(dataclasses.replace(options, compile=False, cuda_graphs=False),
                                     torch.device("cuda")) is None


@pytest.mark.parametrize("bad", [dict(dtype="float16"), dict(attention_backends=("fast",)),
                                 dict(cuda_graphs=True), dict(batch_buckets=(4, 2)), dict(batch_buckets=(0,))])
def test_invalid_options_are_refused_by_name(bad: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        InferenceOptions(**bad)
