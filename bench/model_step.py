# SPDX-License-Identifier: Apache-2.0
"""Latency of one denoiser forward and one action chunk (encode + generate) per model preset.

Random weights (timing only). CPU: the small presets; CUDA (when available): also the official
2B preset in bfloat16. Last line, machine-readable:
``model_step preset=<name> device=<dev> forward_ms=<x> chunk_ms=<y> ...`` (one line per preset
before it, the last line summarizes all).
"""
from __future__ import annotations


import torch

from cosmos_policy_ros.core.config import get_preset
from cosmos_policy_ros.core.layout import Role
from cosmos_policy_ros.core.model import CosmosPolicy
from timing import hardware_line, mean_ms, parse_arguments

CPU_PRESETS = ("tiny", "demo-small")
GPU_PRESETS = ("cosmos-predict2-2b",)
INSTRUCTION = "pick up the cube"


def bench_preset(name: str, device: torch.device, dtype: torch.dtype, repeats: int) -> dict[str, float]:
    """Mean forward and chunk latency [ms] of a randomly initialized preset."""
    model = CosmosPolicy(get_preset(name)).to(device).eval()
    if dtype != torch.float32:
        model.transformer.to(dtype)
    layout = model.config.layout
    images, proprio = layout.fake_observation(0)
    if model.config.text_encoder != "hash":
        model.text_cache.add(INSTRUCTION, torch.zeros(model.config.dit.text_max_tokens, model.config.dit.text_embed_dim))
    encoded = model.encode_observation(images, proprio, INSTRUCTION)
    with torch.no_grad():
        forward_ms = mean_ms(lambda: model.generate(encoded, Role.POLICY, 1, [0]), device, repeats)
        chunk_ms = mean_ms(lambda: model.act(images, proprio, INSTRUCTION), device, repeats)
    return {"forward_ms": forward_ms, "chunk_ms": chunk_ms,
            "chunk_num_steps": model.config.sampler.policy_num_steps}


def main() -> None:
    args = parse_arguments(__doc__.splitlines()[0], repeats=3)
    runs = [(p, torch.device("cpu"), torch.float32) for p in CPU_PRESETS]
    if torch.cuda.is_available():
        runs += [(p, torch.device("cuda"), torch.bfloat16) for p in CPU_PRESETS + GPU_PRESETS]
    print(hardware_line())
    summary = []
    for name, device, dtype in runs:
        result = bench_preset(name, device, dtype, args.repeats)
        line = (f"preset={name} device={device.type} dtype={str(dtype).split('.')[-1]} "
                f"forward_ms={result['forward_ms']:.1f} chunk_ms={result['chunk_ms']:.1f} "
                f"chunk_num_steps={result['chunk_num_steps']}")
        print(line)
        summary.append(f"{name}@{device.type}:forward_ms={result['forward_ms']:.1f},chunk_ms={result['chunk_ms']:.1f}")
    print("model_step " + " ".join(summary))


if __name__ == "__main__":
    main()
