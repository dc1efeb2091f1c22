# SPDX-License-Identifier: Apache-2.0
"""What the model benches share: their command line, the hardware line and device syncs."""
from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import torch


def parse_arguments(description: str, repeats: int) -> argparse.Namespace:
    """``--repeats`` and ``--threads`` (applied to torch here)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def hardware_line() -> str:
    """The GPU's name when there is one (its runs are the ones that matter), else the CPU's."""
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or platform.machine()
    return f"hardware: {name}; cpu threads {torch.get_num_threads()}; torch {torch.__version__}"


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so wall-clock time covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def mean_ms(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Mean wall time [ms] of ``fn()`` over ``repeats`` calls after one warm-up call."""
    fn()
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync(device)
    return 1e3 * (time.perf_counter() - start) / repeats
