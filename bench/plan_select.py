# SPDX-License-Identifier: Apache-2.0
"""Plan-and-select cost: N=1 vs N=8 as a serial loop vs N=8 batched (full and fast modes).

Random weights (timing only). On CPU a small preset; with CUDA also the official 2B preset in
bf16. Prints absolute times, ratios and the hardware, saves a bar plot, and ends with
``plan_select device=<cpu|gpu name> preset=<name> serial_over_batched=<x> batched8_over_n1=<y>``
(serial and batched = the full official scheme, N=8).
Usage: python bench/plan_select.py [--quick] [--repeats 3] [--plot docs/plan_select.png]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import torch

from cosmos_policy_ros.core.config import get_preset
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.core.planning import Planner, PlannerConfig

INSTRUCTION = "put the cube in the bowl"
BASE_SEED = 195
CPU_PRESET, QUICK_PRESET, GPU_PRESET = "demo-small", "tiny", "cosmos-predict2-2b"
CASES = ("N=1", "N=8 serial (full)", "N=8 batched (full)", "N=8 batched (fast)")


def _model(preset: str, device: torch.device, dtype: torch.dtype | None) -> CosmosPolicy:
    torch.manual_seed(0)
    model = CosmosPolicy(get_preset(preset)).to(device).eval()
    if dtype is not None:
        model.transformer.to(dtype=dtype)
    if model.config.text_encoder != "hash":  # random stand-in for the precomputed T5 embedding
        dit = model.config.dit
        model.text_cache.add(INSTRUCTION, torch.randn(dit.text_max_tokens, dit.text_embed_dim))
    return model



def _cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo`` on Linux), else ``platform.processor()``."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _median_s(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up (kernels, allocator, the planner's cost model)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(preset: str, device: torch.device, dtype: torch.dtype | None, repeats: int) -> dict[str, float]:
    """Median seconds per decision of each case in ``CASES``."""
    model = _model(preset, device, dtype)
    images, proprio = model.config.layout.fake_observation(0)
    single = Planner(model, config=PlannerConfig(num_candidates=1))
    full = Planner(model, config=PlannerConfig(mode="full"))
    # fast as the demo runs it: one one-evaluation future and value per candidate (the demo
    # checkpoint's world_model_num_steps / value_num_steps)
    fast = Planner(model, config=PlannerConfig(mode="fast", future_max_num_steps=1, value_max_num_steps=1))
    runs = {CASES[0]: lambda: single.plan(images, proprio, INSTRUCTION, BASE_SEED),
            CASES[1]: lambda: full.plan_serial(images, proprio, INSTRUCTION, BASE_SEED),
            CASES[2]: lambda: full.plan(images, proprio, INSTRUCTION, BASE_SEED),
            CASES[3]: lambda: fast.plan(images, proprio, INSTRUCTION, BASE_SEED)}
    return {case: _median_s(run, repeats) for case, run in runs.items()}


def save_plot(results: dict[str, dict[str, float]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 2.8), squeeze=False)
    for ax, (label, times) in zip(axes[0], results.items()):
        values = [times[c] for c in CASES]
        ax.barh(CASES, values, color=["#888888", "#d62728", "#1f77b4", "#2ca02c"])
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:.2f} s", va="center", fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, 1.25 * max(values))
        ax.set_xlabel("seconds per decision (median)")
        ax.set_title(label, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_PRESET} preset on CPU, 1 repeat (<1 min)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--plot", type=Path,
                        default=Path(__file__).resolve().parents[1] / "docs" / "plan_select.png")
    args = parser.parse_args()
    cpu_name = _cpu_name()
    print(f"hardware: cpu {cpu_name}, {os.cpu_count()} cpus, torch threads {torch.get_num_threads()}, "
          f"torch {torch.__version__}")
    runs = [(QUICK_PRESET if args.quick else CPU_PRESET, torch.device("cpu"), None, "cpu")]
    if torch.cuda.is_available() and not args.quick:
        gpu_name = torch.cuda.get_device_name()
        print(f"hardware: gpu {gpu_name}")
        runs.append((GPU_PRESET, torch.device("cuda"), torch.bfloat16, gpu_name))
    repeats = 1 if args.quick else args.repeats
    results, last = {}, ""
    for preset, device, dtype, device_name in runs:
        times = measure(preset, device, dtype, repeats)
        serial_over_batched = times[CASES[1]] / times[CASES[2]]
        batched_over_n1 = times[CASES[2]] / times[CASES[0]]
        dtype_name = str(dtype or torch.float32).replace("torch.", "")
        print(f"[{device_name}, preset {preset}, {dtype_name}, median of {repeats}]")
        for case in CASES:
            print(f"  {case:<20} {times[case]:8.3f} s   {times[case] / times[CASES[0]]:6.1f}x N=1")
        print(f"  serial/batched (full, N=8) = {serial_over_batched:.2f}  "
              f"(batched = {1 / serial_over_batched:.2f}x serial); batched N=8 / N=1 = {batched_over_n1:.2f}")
        results[f"{device_name}, {preset} ({dtype_name})"] = times
        last = (f"plan_select device={device_name.replace(' ', '_')} preset={preset} "
                f"serial_over_batched={serial_over_batched:.2f} batched8_over_n1={batched_over_n1:.2f}")
    save_plot(results, args.plot)
    print(f"plot: {args.plot}")
    print(last)


if __name__ == "__main__":
    main()
