# SPDX-License-Identifier: Apache-2.0
"""Time of one training step (loss, backward, grad clip, fused AdamW) per model preset and batch.

Random weights and random latents (the VAE is frozen in training and its latents are cached, so
the step is the transformer's): the number that sizes a fine-tune. CPU: the small presets in fp32;
CUDA (when available): the small presets and the official 2B preset under bf16 autocast, as the
trainer runs them, with the peak GPU memory. Last line, machine-readable:
``train_step <preset>@<device>:batch=<b>,step_ms=<x>,samples_per_s=<y> ...``.
"""
from __future__ import annotations

import contextlib
import time

import torch

from cosmos_policy_ros.core.config import get_preset
from cosmos_policy_ros.core.layout import Role
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.train.objective import TrainingObjective
from timing import hardware_line, parse_arguments, sync

CPU_RUNS = (("tiny", 8), ("demo-small", 32))
GPU_RUNS = (("demo-small", 256), ("cosmos-predict2-2b", 1), ("cosmos-predict2-2b", 4))
TEXT = "pick up the cube"


def bench_step(model: CosmosPolicy, batch: int, repeats: int) -> dict[str, float]:
    """Mean training-step time [ms] of ``model`` (already on its device) at ``batch`` samples."""
    device = model.device
    objective = TrainingObjective(model)
    optimizer = torch.optim.AdamW(model.transformer.parameters(), lr=1e-4, fused=device.type == "cuda")
    channels, height, width = model.frame_shape
    shape = (batch, channels, model.layout.num_frames, height, width)
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(shape, generator=generator).to(device)
    cond = torch.randn(shape, generator=generator).to(device)
    noise = torch.randn(shape, generator=generator).to(device)
    sigma = torch.full((batch,), 1.0, device=device)
    roles = torch.tensor([int(Role.POLICY), int(Role.WORLD_MODEL)] * batch)[:batch]
    if model.config.text_encoder != "hash" and TEXT not in model.text_cache:  # T5 embeddings come offline
        model.text_cache.add(TEXT, torch.zeros(model.config.dit.text_max_tokens, model.config.dit.text_embed_dim))
    text = model.embed_instructions([TEXT] * batch).to(device)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" \
        else contextlib.nullcontext

    def step() -> None:
        with autocast():
            loss = objective(x0, cond, roles, text, sigma, noise).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.transformer.parameters(), 1.0)
        optimizer.step()

    step()  # warm-up (allocations, kernel choice)
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    sync(device)
    step_ms = 1e3 * (time.perf_counter() - start) / repeats
    peak_gib = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return {"step_ms": step_ms, "samples_per_s": 1e3 * batch / step_ms, "peak_gib": peak_gib}


def main() -> None:
    args = parse_arguments(__doc__.splitlines()[0], repeats=5)
    runs = [(p, b, torch.device("cpu")) for p, b in CPU_RUNS]
    if torch.cuda.is_available():
        runs += [(p, b, torch.device("cuda")) for p, b in GPU_RUNS]
    print(hardware_line())
    summary, models = [], {}
    for name, batch, device in runs:
        key = (name, device.type)
        if key not in models:
            models.clear()  # one preset in memory at a time (the 2B model is ~8 GB in fp32)
            models[key] = CosmosPolicy(get_preset(name)).to(device).train()
        result = bench_step(models[key], batch, args.repeats)
        print(f"preset={name} device={device.type} batch={batch} step_ms={result['step_ms']:.1f} "
              f"samples_per_s={result['samples_per_s']:.1f} peak_gib={result['peak_gib']:.2f}", flush=True)
        summary.append(f"{name}@{device.type}:batch={batch},step_ms={result['step_ms']:.1f},"
                       f"samples_per_s={result['samples_per_s']:.1f}")
    print("train_step " + " ".join(summary))


if __name__ == "__main__":
    main()
