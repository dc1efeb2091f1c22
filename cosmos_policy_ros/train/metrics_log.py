# SPDX-License-Identifier: Apache-2.0
"""Training metrics: one JSON record per line (``metrics.jsonl``), TensorBoard event files
(``tensorboard/``: ``tensorboard --logdir <output_dir>``) and a loss plot PNG.

Records have ``kind`` ("train" or "val"), ``step`` and float metrics, e.g. ``loss``,
``loss_policy``, ``loss_world_model``, ``loss_value``, ``lr``, ``grad_norm``, ``step_time_s``
(train) and ``val_loss_<role>``, ``val_action_mse`` (val).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"
PLOT_FILE = "loss.png"
PLOT_SIZE_IN = (10, 4)
PLOT_DPI = 100


class MetricsLog:
    """Appends records to ``<folder>/metrics.jsonl`` and TensorBoard as ``<kind>/<metric>`` scalars
    (rank 0 only writes)."""

    def __init__(self, folder: str | Path, enabled: bool = True) -> None:
        self.path = Path(folder) / METRICS_FILE
        self.enabled = enabled
        self._writer = None
        self._purge_step: int | None = None

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter
            self._writer = SummaryWriter(str(self.path.parent / TENSORBOARD_DIR), purge_step=self._purge_step)
        for key, value in record.items():
            if key not in ("kind", "step") and isinstance(value, (int, float)):
                self._writer.add_scalar(f"{record['kind']}/{key}", value, record["step"])
        self._writer.flush()

    def truncate_after(self, step: int) -> None:
        """Drop records past ``step`` (a resumed run re-logs them; TensorBoard purges them too)."""
        self._purge_step = step + 1
        if not self.enabled or not self.path.is_file():
            return
        kept = [line for line in self.path.read_text(encoding="utf-8").splitlines()
                if line and json.loads(line)["step"] <= step]
        self.path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")


def read_metrics(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line]


def plot_losses(metrics_path: str | Path, png_path: str | Path) -> Path:
    """Training loss per role and validation losses / action error over steps, saved as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    records = read_metrics(metrics_path)
    figure, (train_ax, val_ax) = plt.subplots(1, 2, figsize=PLOT_SIZE_IN)
    for ax, kind, prefix in ((train_ax, "train", "loss"), (val_ax, "val", "val_")):
        rows = [r for r in records if r["kind"] == kind]
        keys = sorted({k for r in rows for k in r if k.startswith(prefix)})
        for key in keys:
            points = [(r["step"], r[key]) for r in rows if key in r and math.isfinite(r[key])]
            if points:
                ax.plot(*zip(*points), label=key, marker="." if kind == "val" else None)
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.set_title(f"{kind} losses")
        if keys:
            ax.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(png_path, dpi=PLOT_DPI)
    plt.close(figure)
    return Path(png_path)
