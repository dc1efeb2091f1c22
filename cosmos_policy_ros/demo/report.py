# SPDX-License-Identifier: Apache-2.0
"""The demo's report: the table, the value AUC, plots and a GIF, all from measured episodes.

ROS-free (it reads :class:`~cosmos_policy_ros.demo.episode_runner.EpisodeResult` only).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cosmos_policy_ros.demo.episode_runner import EpisodeResult
from cosmos_policy_ros.train.evaluation import roc_auc

MODE_COLOURS = {"TELEOP": "tab:blue", "POLICY": "tab:green", "HOLD": "tab:red", "ESTOP": "black"}
HISTOGRAM_BINS = 30
GIF_SCALE = 6  # 32 px renders are upscaled (nearest) so the GIF is watchable


@dataclass(frozen=True)
class SettingSummary:
    """One row of the table."""

    name: str
    episodes: int
    successes: int
    mean_inference_ms: float
    mean_planning_ms: float
    deadline_misses: int

    @property
    def success_rate(self) -> float:
        return self.successes / self.episodes if self.episodes else math.nan


def summarize(name: str, results: Sequence[EpisodeResult]) -> SettingSummary:
    inference = [x for r in results for x in r.inference_ms]
    planning = [x for r in results for x in r.planning_ms]
    return SettingSummary(name, len(results), sum(r.success for r in results),
                          float(np.mean(inference)) if inference else math.nan,
                          float(np.mean(planning)) if planning else math.nan,
                          sum(r.deadline_misses for r in results))


def episode_value(result: EpisodeResult) -> float:
    """The episode's predicted value: mean over its chunks (NaN without chunks)."""
    return float(np.mean([v for _, v in result.values])) if result.values else math.nan


def value_auc(results: Sequence[EpisodeResult]) -> tuple[float, int, int]:
    """(AUC of episode value vs. success, successes, failures) over episodes with chunks."""
    scored = [(episode_value(r), r.success) for r in results if r.values]
    auc = roc_auc([s for s, _ in scored], [ok for _, ok in scored])
    return auc, sum(ok for _, ok in scored), sum(not ok for _, ok in scored)


def format_table(rows: Sequence[SettingSummary]) -> str:
    lines = [f"{'setting':<22} {'episodes':>8} {'success':>8} {'rate':>6} {'infer_ms':>9} {'plan_ms':>8} "
             f"{'deadline_miss':>13}"]
    for row in rows:
        lines.append(f"{row.name:<22} {row.episodes:>8} {row.successes:>8} {row.success_rate:>6.2f} "
                     f"{row.mean_inference_ms:>9.1f} {row.mean_planning_ms:>8.1f} {row.deadline_misses:>13}")
    return "\n".join(lines)


def plot_values(handoff: EpisodeResult, others: Sequence[EpisodeResult], path: Path) -> Path:
    """Predicted value over sim time: the hand-off episode with its mode changes, and the rest."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    if handoff.values:
        top.plot(*zip(*handoff.values), "k.-", label="selected chunk value")
    previous = None
    for time_s, mode in handoff.modes:
        if mode != previous:
            top.axvline(time_s, color=MODE_COLOURS.get(mode, "grey"), ls="--", lw=1)
            top.text(time_s, 1.02, mode, color=MODE_COLOURS.get(mode, "grey"), fontsize=7, rotation=45)
            previous = mode
    for time_s, what in handoff.events:
        top.axvline(time_s, color="tab:orange", lw=2, alpha=0.6)
        top.text(time_s, 0.05, what, color="tab:orange", fontsize=7, rotation=90)
    top.set(ylim=(0, 1.1), ylabel="value", title=f"hand-off episode (seed {handoff.seed}, "
                                                    f"{'success' if handoff.success else 'failure'})")
    for result in others:
        if result.values:
            bottom.plot(*zip(*result.values), color="tab:green" if result.success else "tab:red", alpha=0.5)
    bottom.set(ylim=(0, 1.1), xlabel="sim time since reset [s]", ylabel="value",
               title="policy episodes (green: success, red: failure)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_latency(by_setting: dict[str, list[float]], path: Path) -> Path:
    """Histogram of per-chunk inference latency [ms] per setting."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axis = plt.subplots(figsize=(7, 4))
    for name, latencies in by_setting.items():
        if latencies:
            axis.hist(latencies, bins=HISTOGRAM_BINS, alpha=0.6, label=f"{name} (n={len(latencies)})")
    axis.set(xlabel="inference latency per chunk [ms]", ylabel="chunks")
    axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_gif(frames: Sequence[np.ndarray], path: Path, fps: int) -> Path | None:
    """The camera frames of one episode as a looping GIF (None without frames)."""
    if not frames:
        return None
    import imageio.v2 as imageio
    scaled = [np.kron(f, np.ones((GIF_SCALE, GIF_SCALE, 1), dtype=np.uint8)) for f in frames]
    imageio.mimsave(path, scaled, duration=1.0 / fps, loop=0)
    return path
