# SPDX-License-Identifier: Apache-2.0
"""The demo's report: the table with intervals and the paired test, the value AUC, plots and a
GIF, all from measured episodes.

ROS-free (it reads :class:`~cosmos_policy_ros.demo.episode_runner.EpisodeResult` only).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cosmos_policy_ros.sim.replay import EpisodeRenderer
from cosmos_policy_ros.train.evaluation import roc_auc
from cosmos_policy_ros.train.statistics import PairedComparison, paired_comparison, wilson_interval
from cosmos_policy_ros.demo.episode_runner import EpisodeResult

MODE_COLOURS = {"TELEOP": "tab:blue", "POLICY": "tab:green", "HOLD": "tab:red", "ESTOP": "black"}
HISTOGRAM_BINS = 30
CHOICE_PLOT_EPISODES = 40  # scenes shown in the per-decision choice picture
OVERLAY_FONT_PX = 15


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

    @property
    def interval(self) -> tuple[float, float]:
        """Wilson 95 % interval of the success rate."""
        return wilson_interval(self.successes, self.episodes)


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
    lines = [f"{'setting':<22} {'episodes':>8} {'success':>8} {'rate':>6} {'wilson95':>13} {'infer_ms':>9} "
             f"{'plan_ms':>8} {'deadline_miss':>13}"]
    for row in rows:
        low, high = row.interval
        lines.append(f"{row.name:<22} {row.episodes:>8} {row.successes:>8} {row.success_rate:>6.2f} "
                     f"{f'[{low:.2f}, {high:.2f}]':>13} {row.mean_inference_ms:>9.1f} "
                     f"{row.mean_planning_ms:>8.1f} {row.deadline_misses:>13}")
    return "\n".join(lines)


def compare_paired(plain: Sequence[EpisodeResult], plan: Sequence[EpisodeResult]) -> PairedComparison:
    """McNemar on the two settings' episodes, scene by scene.

    Raises:
        ValueError: the settings did not run the same seeds in the same order.
    """
    if [r.seed for r in plain] != [r.seed for r in plan]:
        raise ValueError("the settings ran different scenes; a paired comparison needs the same seeds")
    return paired_comparison([r.success for r in plain], [r.success for r in plan])


def format_paired(paired: PairedComparison, name_a: str, name_b: str) -> str:
    return (f"paired on the same scenes: both solved {paired.both}, only {name_a} {paired.only_a}, "
            f"only {name_b} {paired.only_b}, neither {paired.neither}; exact McNemar p = {paired.p_value:.4f}")


def plot_choices(plain: Sequence[EpisodeResult], plan: Sequence[EpisodeResult], path: Path) -> Path:
    """The per-decision choice picture: per scene, the first decision's candidate values (dots),
    the one plan-and-select took (large marker: green = that episode succeeded, red = failed), and
    what the plain policy did on the same scene (top row)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    shown = list(zip(plain, plan))[:CHOICE_PLOT_EPISODES]
    fig, axis = plt.subplots(figsize=(max(6.0, 0.3 * len(shown) + 2), 4.5))
    for x, (n1, planned) in enumerate(shown):
        if planned.plans:
            _, values, selected = planned.plans[0]
            axis.scatter([x] * len(values), values, s=14, color="grey", alpha=0.6, zorder=2)
            if 0 <= selected < len(values):
                axis.scatter([x], [values[selected]], s=80, marker="D", zorder=3,
                             color="tab:green" if planned.success else "tab:red", edgecolor="black")
        axis.scatter([x], [1.08], s=50, marker="o" if n1.success else "x",
                     color="tab:green" if n1.success else "tab:red")
    axis.set(xticks=range(len(shown)), ylim=(-0.05, 1.15), xlabel="scene seed", ylabel="V(s') of candidate",
             title="first decision: candidates (grey), taken (diamond: green success / red failure); "
                   "top: plain policy N=1 on the same scene")
    axis.set_xticklabels([str(n1.seed) for n1, _ in shown], rotation=90, fontsize=7)
    axis.title.set_fontsize(9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def showcase_pair(plain: Sequence[EpisodeResult], plan: Sequence[EpisodeResult]) -> tuple[EpisodeResult, EpisodeResult]:
    """The scene the GIF shows: the first where plan-and-select succeeded and N=1 failed, else the first."""
    pairs = list(zip(plain, plan))
    return next(((a, b) for a, b in pairs if b.success and not a.success), pairs[0])


def _latest(series: Sequence[tuple[float, object]], time_s: float) -> object | None:
    before = [v for t, v in series if t <= time_s]
    return before[-1] if before else None


def _overlay(frame: np.ndarray, title: str, result: EpisodeResult, time_s: float, last: bool) -> np.ndarray:
    """``frame`` with the setting, time, arbiter mode, the chosen chunk's value and, at the end, the outcome."""
    from PIL import Image, ImageDraw, ImageFont
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=OVERLAY_FONT_PX)
    value = _latest(result.values, time_s)
    lines = [title, f"t = {time_s:4.1f} s   mode {_latest(result.modes, time_s) or '-'}",
             f"value of chosen chunk: {value:.2f}" if value is not None else "value: -"]
    if last:
        lines.append("SUCCESS" if result.success else "FAILURE (time limit)")
    draw.rectangle((0, 0, frame.shape[1], (OVERLAY_FONT_PX + 3) * len(lines) + 4), fill=(0, 0, 0))
    for row, text in enumerate(lines):
        colour = (255, 255, 255) if row < 3 else ((80, 220, 80) if result.success else (240, 80, 80))
        draw.text((4, 2 + row * (OVERLAY_FONT_PX + 3)), text, fill=colour, font=font)
    return np.asarray(image)


def render_comparison(renderer: EpisodeRenderer, task: str, episodes: Sequence[tuple[str, EpisodeResult]],
                      fps: int) -> list[np.ndarray]:
    """Side-by-side frames of the same scene's episodes (e.g. N=1 and plan-and-select), re-rendered
    from their joint states with a viewer camera, each with its overlay; a finished episode holds
    its last frame."""
    duration_s = max(r.duration_s for _, r in episodes)
    times = np.arange(0.0, duration_s + 1e-9, 1.0 / fps)
    columns = []
    for title, result in episodes:
        frames = renderer.render(task, result.seed, result.joints, np.minimum(times, result.duration_s))
        ended = [t >= result.duration_s - 1e-9 or i == len(times) - 1 for i, t in enumerate(times)]
        columns.append([_overlay(f, title, result, min(t, result.duration_s), last)
                        for f, t, last in zip(frames, times, ended)])
    return [np.concatenate(row, axis=1) for row in zip(*columns)]


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
    """Frames as a looping GIF (None without frames)."""
    if not frames:
        return None
    import imageio.v2 as imageio
    imageio.mimsave(path, list(frames), duration=1.0 / fps, loop=0)
    return path
