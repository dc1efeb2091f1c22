# SPDX-License-Identifier: Apache-2.0
"""Issue 22's table: every row timed, with the hardware, dtype, FLOPs and MFU.

Rows: one forward at batch 1; a policy chunk (VAE encode + 10 evaluations); fast plan-and-select
N=8; the full official scheme N=8 (futures {1,3,5}, values {1..5} per future); one training step.
On CUDA: the official 2B DiT at the ALOHA layout (3 cameras, 224 px, 2156 tokens), random weights,
the levers of ``core/acceleration.py`` as the flags say (default bf16 weights + text K/V cache).
``--tiny``: the same rows with the tiny preset on CPU in float32 (checks the script, not the chip).
FLOPs come from the config (``core/flops.py``, the model's work: per-frame adaLN, text K/V once
when cached); MFU = FLOP/s over the chip's dense bf16 peak (none for a CPU). The training step
runs bf16 autocast on fp32 weights (as the trainer does) on one device; FLOPs = 3 x forward.
Last line: ``gpu_table device=<name> dtype=<d> forward_ms=<x> chunk_ms=<x> fast_plan_ms=<x>
full_plan_ms=<x> train_step_ms=<x> train_mfu=<x|n/a>``.
``--lever-sweep`` first times the batch-1 forward with the levers added one by one (plain fp32,
bf16 weights, text K/V once, per-frame modulation, SDPA backend priority, compile, CUDA graphs), lines
``sweep=<lever> forward_ms=<x> speedup=<x>`` (speedup over plain).
Usage: python bench/gpu_table.py [--tiny] [--repeats 3] [--compile] [--cuda-graphs]
    [--attention cudnn,flash] [--buckets 1,8,32] [--dtype float32] [--markdown PATH] [--lever-sweep]
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from cosmos_policy_ros.core import flops
from cosmos_policy_ros.core.acceleration import InferenceOptions
from cosmos_policy_ros.core.config import ALOHA_LAYOUT, get_preset
from cosmos_policy_ros.core.layout import Role
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.core.planning import Planner, PlannerConfig
from timing import hardware_line, sync
from train_step import bench_step

INSTRUCTION = "put the cube in the bowl"
GPU_PRESET, TINY_PRESET = "cosmos-predict2-2b", "tiny"
CHUNK_STEPS = 10  # issue 22: a policy chunk is 10 evaluations
NUM_CANDIDATES = 8
# Compiled blocks trace twice (the first forward of a decision also projects the text K/V) and
# CUDA graph trees record on a later call: three calls reach the steady state.
WARMUP_CALLS = 3
# Dense bf16 peak FLOP/s (NVIDIA data sheets, SXM parts); matched by substring of the device name.
BF16_PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12}


@dataclass
class Row:
    """One line of the table: wall time and the DiT work done in it."""

    key: str
    what: str
    ms: float
    flop: float
    note: str = ""


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny preset on CPU, float32")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", choices=("bfloat16", "float32"), default=None,
                        help="transformer weights (default: bfloat16 on CUDA, float32 on CPU)")
    parser.add_argument("--no-text-kv", action="store_true", help="project the text in every forward")
    parser.add_argument("--attention", default="", help="SDPA backends in priority order, e.g. cudnn,flash")
    parser.add_argument("--compile", action="store_true", help="torch.compile the blocks (static shapes)")
    parser.add_argument("--cuda-graphs", action="store_true", help="compile with CUDA graphs (CUDA only)")
    parser.add_argument("--buckets", default="", help="batch buckets, e.g. 1,8,32")
    parser.add_argument("--train-batch", type=int, default=None, help="training batch (default 4 GPU, 2 tiny)")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table to this file")
    parser.add_argument("--lever-sweep", action="store_true", help="first time the forward lever by lever")
    return parser.parse_args()


def _options(args: argparse.Namespace, device: torch.device) -> InferenceOptions:
    dtype = args.dtype or ("bfloat16" if device.type == "cuda" else "float32")
    split = (lambda text: tuple(t for t in text.split(",") if t))
    return InferenceOptions(dtype=dtype, attention_backends=split(args.attention), text_kv_cache=not args.no_text_kv,
                            compile=args.compile, cuda_graphs=args.cuda_graphs,
                            batch_buckets=tuple(int(b) for b in split(args.buckets)))


def _model(preset: str, device: torch.device, options: InferenceOptions | None) -> CosmosPolicy:
    torch.manual_seed(0)
    config = get_preset(preset, ALOHA_LAYOUT if preset == GPU_PRESET else None)
    model = CosmosPolicy(config).to(device)
    if config.text_encoder != "hash":  # random stand-in for the precomputed T5 embedding
        model.text_cache.add(INSTRUCTION, torch.randn(config.dit.text_max_tokens, config.dit.text_embed_dim))
    return model.eval().accelerate(options) if options else model.train()


@contextlib.contextmanager
def _counting_rows(model: CosmosPolicy) -> Iterator[list[int]]:
    """Batch rows of every transformer forward inside the block (padding rows of a bucket included)."""
    rows: list[int] = []
    handle = model.transformer.register_forward_pre_hook(
        lambda _m, _args, kwargs: rows.append(kwargs["hidden_states"].shape[0]), with_kwargs=True)
    try:
        yield rows
    finally:
        handle.remove()


def _timed(model: CosmosPolicy, what: str, key: str, fn: Callable[[], object], repeats: int,
           per_row_flop: float) -> Row:
    """Mean time of ``fn`` after warm-up calls, and its DiT FLOPs from the rows it ran."""
    for _ in range(WARMUP_CALLS):
        fn()
    sync(model.device)
    with _counting_rows(model) as rows:
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        sync(model.device)
        ms = 1e3 * (time.perf_counter() - start) / repeats
    padded = " (bucket padding included)" if model.inference.batch_buckets else ""
    return Row(key, what, ms, per_row_flop * sum(rows) / repeats,
               f"{sum(rows) // repeats} sample-forwards{padded}")



def _forward_row(model: CosmosPolicy, repeats: int) -> Row:
    images, proprio = model.config.layout.fake_observation(0)
    encoded = model.encode_observation(images, proprio, INSTRUCTION)
    per_row = flops.forward_flops(model.config, text_kv_cached=model.inference.text_kv_cache)
    return _timed(model, "forward, batch 1", "forward", lambda: model.generate(encoded, Role.POLICY, 1, [0]),
                  repeats, per_row)


def lever_sweep(preset: str, device: torch.device, repeats: int) -> None:
    """The batch-1 forward with the levers added one at a time (each a fresh model)."""
    backends = ("cudnn", "flash", "efficient") if device.type == "cuda" else ("flash", "math")
    steps = [("plain fp32", InferenceOptions(text_kv_cache=False, frame_modulation=False))]
    for label, change in (("+ bf16 weights", dict(dtype="bfloat16")), ("+ text K/V once", dict(text_kv_cache=True)),
                          ("+ per-frame modulation", dict(frame_modulation=True)),
                          (f"+ SDPA {','.join(backends)}", dict(attention_backends=backends)),
                          ("+ compile", dict(compile=True)),
                          ("+ CUDA graphs" + ("" if device.type == "cuda" else " (skipped on CPU)"),
                           dict(cuda_graphs=True))):
        steps.append((label, dataclasses.replace(steps[-1][1], **change)))
    plain_ms = None
    for label, options in steps:
        ms = _forward_row(_model(preset, device, options), repeats).ms
        plain_ms = plain_ms or ms
        print(f"sweep={label.replace(' ', '_')} forward_ms={ms:.2f} speedup={plain_ms / ms:.2f}", flush=True)


def inference_rows(model: CosmosPolicy, repeats: int) -> list[Row]:
    """Forward, chunk and both planning schemes of one model."""
    images, proprio = model.config.layout.fake_observation(0)
    per_row = flops.forward_flops(model.config, text_kv_cached=model.inference.text_kv_cache)
    # fast: one one-evaluation future and value per candidate (as bench/plan_select.py times it)
    planners = {"fast": Planner(model, config=PlannerConfig(num_candidates=NUM_CANDIDATES, mode="fast",
                                                            policy_num_steps=CHUNK_STEPS, future_max_num_steps=1,
                                                            value_max_num_steps=1)),
                "full": Planner(model, config=PlannerConfig(num_candidates=NUM_CANDIDATES, mode="full",
                                                            policy_num_steps=CHUNK_STEPS))}
    return [
        _forward_row(model, repeats),
        _timed(model, f"policy chunk, VAE encode + {CHUNK_STEPS} evaluations", "chunk",
               lambda: model.act(images, proprio, INSTRUCTION, num_steps=CHUNK_STEPS), repeats, per_row),
        _timed(model, f"fast plan-and-select N={NUM_CANDIDATES}", "fast_plan",
               lambda: planners["fast"].plan(images, proprio, INSTRUCTION, base_seed=0), repeats, per_row),
        _timed(model, f"full official scheme N={NUM_CANDIDATES}", "full_plan",
               lambda: planners["full"].plan(images, proprio, INSTRUCTION, base_seed=0), repeats, per_row),
    ]


def training_row(model: CosmosPolicy, batch: int, repeats: int) -> Row:
    result = bench_step(model, batch, repeats)
    flop = flops.TRAINING_FLOPS_PER_FORWARD * batch * flops.forward_flops(model.config)
    note = ("bf16 autocast on fp32 weights, one GPU, AdamW; peak {:.1f} GiB".format(result["peak_gib"])
            if model.device.type == "cuda" else "float32, AdamW")
    return Row("train_step", f"training step, batch {batch}", result["step_ms"], flop, note)


def peak_flops(device: torch.device) -> float | None:
    """The chip's dense bf16 peak, or None (a CPU, or a GPU missing from the table)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for part, peak in BF16_PEAK_FLOPS.items() if part in name), None)


def mfu_text(row: Row, peak: float | None) -> str:
    return "n/a" if peak is None else f"{100 * row.flop / (row.ms / 1e3) / peak:.1f}%"


def main() -> None:
    args = _arguments()
    if not args.tiny and not torch.cuda.is_available():
        raise SystemExit("gpu_table: no CUDA device; run with --tiny for the CPU check")
    device = torch.device("cpu" if args.tiny else "cuda")
    preset = TINY_PRESET if args.tiny else GPU_PRESET
    options = _options(args, device)
    hardware = hardware_line()
    print(hardware)
    print(f"preset={preset} layout={'aloha' if preset == GPU_PRESET else 'tiny'} options={options}")
    if args.lever_sweep:
        lever_sweep(preset, device, args.repeats)
    model = _model(preset, device, options)
    rows = inference_rows(model, args.repeats)
    del model
    train_batch = args.train_batch or (2 if args.tiny else 4)
    rows.append(training_row(_model(preset, device, None), train_batch, args.repeats))
    peak = peak_flops(device)
    dtype = options.dtype
    lines = ["| what | device | dtype | ms | TFLOP | TFLOP/s | MFU | note |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        rate = row.flop / 1e12 / (row.ms / 1e3)
        print(f"row={row.key} what=\"{row.what}\" device={device.type} dtype={dtype} ms={row.ms:.1f} "
              f"tflop={row.flop / 1e12:.4g} tflops={rate:.3g} mfu={mfu_text(row, peak)} note=\"{row.note}\"",
              flush=True)
        lines.append(f"| {row.what} | {device.type} | {dtype} | {row.ms:.1f} | {row.flop / 1e12:.4g} | {rate:.3g} | "
                     f"{mfu_text(row, peak)} | {row.note} |")
    print("\n".join(lines))
    if args.markdown:
        args.markdown.write_text(f"{hardware}\n\npreset {preset}, {options}\n\n" + "\n".join(lines) + "\n")
    name = torch.cuda.get_device_name(device).replace(" ", "_") if device.type == "cuda" else "cpu"
    train = rows[-1]
    print(f"gpu_table device={name} dtype={dtype} "
          + " ".join(f"{row.key}_ms={row.ms:.1f}" for row in rows) + f" train_mfu={mfu_text(train, peak)}")


if __name__ == "__main__":
    main()
