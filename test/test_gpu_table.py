# SPDX-License-Identifier: Apache-2.0
"""``bench/gpu_table.py --tiny`` runs on CPU and prints every row of issue 22's table and every lever of
the sweep (not timings)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROWS = ("forward", "chunk", "fast_plan", "full_plan", "train_step")


def test_tiny_table_prints_every_row_with_hardware_dtype_and_mfu(repo_root: Path, tmp_path: Path) -> None:
    markdown = tmp_path / "table.md"
    result = subprocess.run([sys.executable, "bench/gpu_table.py", "--tiny", "--repeats", "1",
                             "--markdown", str(markdown), "--lever-sweep"],
                            cwd=repo_root, capture_output=True, text=True, timeout=600, check=True)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("hardware: ")
    sweep = [line.split()[0] for line in lines if line.startswith("sweep=")]
    assert sweep == ["sweep=plain_fp32", "sweep=+_bf16_weights", "sweep=+_text_K/V_once",
                     "sweep=+_per-frame_modulation", "sweep=+_SDPA_flash,math",
                     "sweep=+_compile", "sweep=+_CUDA_graphs_(skipped_on_CPU)"]
    for key in ROWS:
        row = next(line for line in lines if line.startswith(f"row={key} "))
        assert re.search(r" dtype=float32 ms=[\d.]+ tflop=[\d.e+-]+ tflops=[\d.e+-]+ mfu=n/a ", row), row
    forwards = {key: int(re.search(r'note="(\d+) sample-forwards', next(
        line for line in lines if line.startswith(f"row={key} "))).group(1)) for key in ROWS[:4]}
    # N=8 chunks of 10; fast: one 1-step future and value each; full: futures of {1,3,5} steps, per
    # future values of {1..5} steps, where 2 requested steps are one evaluation (sampler docstring).
    full = 8 * 10 + 8 * (1 + 3 + 5) + 8 * 3 * (1 + 1 + 3 + 4 + 5)
    assert forwards == {"forward": 1, "chunk": 10, "fast_plan": 8 * 10 + 8 + 8, "full_plan": full}
    assert re.fullmatch(r"gpu_table device=cpu dtype=float32 " + " ".join(rf"{k}_ms=[\d.]+" for k in ROWS)
                        + " train_mfu=n/a", lines[-1]), lines[-1]
    assert markdown.read_text().count("\n| ") == len(ROWS) + 1  # separator + one line per row
