# SPDX-License-Identifier: Apache-2.0
"""Offline evaluation: replay recorded episodes open loop through a policy.

For every evaluated step the policy sees the recorded observation (``CosmosPolicy.act``: the
deployment path, images resized and VAE-encoded, the sampler) and its chunk is compared with the
recorded chunk: squared error per joint and per step of the chunk (raw units). The predicted
value is compared with the episode outcome (success = positive) by the ROC AUC, computed as the
Mann-Whitney statistic with ties counted half.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cosmos_policy_ros.core import features
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.data.dataset import EpisodeDataset

REPORT_FILE = "eval_report.json"
PLOT_FILE = "eval.png"
PLOT_SIZE_IN = (14, 4)
PLOT_DPI = 100
SUCCESS = "success"


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve = P(score of a random positive > score of a random negative).

    Ties count one half (average ranks). NaN when one class is absent.
    """
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(bool)
    num_pos, num_neg = int(labels.sum()), int((~labels).sum())
    if num_pos == 0 or num_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    start = 0
    while start < len(scores):  # average rank (1-based) over each run of tied scores
        end = start
        while end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start:end + 1]] = 0.5 * (start + end) + 1.0
        start = end + 1
    rank_sum = ranks[labels].sum()
    return float((rank_sum - num_pos * (num_pos + 1) / 2.0) / (num_pos * num_neg))


@dataclass
class EvalReport:
    """Open-loop results.

    Args:
        num_samples / num_episodes: evaluated steps and episodes.
        action_mse: mean squared action error over everything (raw units squared).
        mse_per_joint: (D,), in the order of ``joint_names``; mse_per_chunk_step: (K,).
        value_auc: ROC AUC of predicted values against episode success (NaN if one class only).
        episodes: per episode: its id and source bag, outcome, mean predicted value, steps,
            predicted values.
        joint_names: the training set's joints.
        value_auc_note: why ``value_auc`` is NaN (empty when it is a number).
    """

    num_samples: int
    num_episodes: int
    action_mse: float
    mse_per_joint: list[float]
    mse_per_chunk_step: list[float]
    value_auc: float
    episodes: list[dict]
    joint_names: list[str]
    value_auc_note: str = ""

    def summary(self) -> str:
        """What the eval command prints: totals, error per joint by name, the AUC and why not."""
        lines = [f"samples {self.num_samples} episodes {self.num_episodes} action_mse {self.action_mse:.6g} "
                 f"value_auc {self.value_auc:.4f}" + (f" ({self.value_auc_note})" if self.value_auc_note else "")]
        lines.append("mse per joint: " + ", ".join(f"{n} {v:.4g}" for n, v in zip(self.joint_names,
                                                                                 self.mse_per_joint)))
        for entry in self.episodes:
            lines.append(f"  {entry['episode_id']:<28} {entry['outcome']:>8} mean value "
                         f"{entry['mean_value']:.3f} ({len(entry['steps'])} steps) {entry['source']}")
        return "\n".join(lines)

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")


def evaluate(model: CosmosPolicy, dataset: EpisodeDataset, stride: int = 1, num_steps: int | None = None,
             seed: int = 0, progress: bool = True) -> EvalReport:
    """Replay every ``stride``-th step of every episode of ``dataset`` through ``model.act``."""
    cameras = model.config.layout.camera_names
    errors, values, labels, per_episode = [], [], [], {}
    indices = list(range(0, len(dataset), stride))
    for index in tqdm(indices, desc="eval", unit="step", disable=not progress):
        sample = dataset[index]
        images = {c: sample[features.OBS_IMAGES][i].numpy() for i, c in enumerate(cameras)}
        result = model.act(images, sample[features.OBS_PROPRIO].numpy(), sample[features.INSTRUCTION],
                           seed=seed, num_steps=num_steps)
        errors.append((result.actions - sample[features.ACTIONS].numpy()) ** 2)  # (K, D)
        number = int(sample[features.EPISODE_INDEX])
        listed = dataset.index["episodes"][number]
        entry = per_episode.setdefault(number, {"episode": number, "episode_id": listed["episode_id"],
                                                "source": listed.get("source", ""), "values": [], "steps": []})
        entry["values"].append(result.value)
        entry["steps"].append(int(sample[features.FRAME_INDEX]))
        values.append(result.value)
        labels.append(_outcome(dataset, number) == SUCCESS)
    squared = np.stack(errors)  # (N, K, D)
    for number, entry in per_episode.items():
        entry["outcome"] = _outcome(dataset, number)
        entry["mean_value"] = float(np.mean(entry["values"]))
    return EvalReport(num_samples=len(indices), num_episodes=len(per_episode),
                      action_mse=float(squared.mean()),
                      mse_per_joint=squared.mean(axis=(0, 1)).tolist(),
                      mse_per_chunk_step=squared.mean(axis=(0, 2)).tolist(),
                      value_auc=roc_auc(np.array(values), np.array(labels)),
                      episodes=list(per_episode.values()), joint_names=list(dataset.index["joints"]),
                      value_auc_note=auc_note(labels))


def auc_note(labels: list[bool]) -> str:
    """Why the value AUC is undefined for these labels, or "" when it is defined."""
    if not labels:
        return "no evaluated steps"
    if all(labels):
        return "no failed episode among those evaluated: the AUC needs both outcomes"
    if not any(labels):
        return "no successful episode among those evaluated: the AUC needs both outcomes"
    return ""


def _outcome(dataset: EpisodeDataset, episode_number: int) -> str:
    return dataset.index["episodes"][episode_number]["outcome"]


def plot_report(report: EvalReport, png_path: str | Path) -> Path:
    """Three panels: error per chunk step, error per joint, predicted value over time per episode."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, (step_ax, joint_ax, value_ax) = plt.subplots(1, 3, figsize=PLOT_SIZE_IN)
    step_ax.plot(report.mse_per_chunk_step, marker=".")
    step_ax.set(xlabel="step of chunk", ylabel="action MSE", title="error along the chunk")
    joint_ax.bar(range(len(report.mse_per_joint)), report.mse_per_joint)
    joint_ax.set_xticks(range(len(report.joint_names)), report.joint_names, rotation=30, ha="right")
    joint_ax.set(ylabel="action MSE", title="error per joint")
    for entry in report.episodes:
        color = "tab:green" if entry["outcome"] == SUCCESS else "tab:red"
        value_ax.plot(entry["steps"], entry["values"], color=color, alpha=0.7)
    value_ax.set(xlabel="episode step", ylabel="predicted value", ylim=(0, 1),
                 title=f"value (green success, red failure), AUC {report.value_auc:.3f}")
    figure.tight_layout()
    figure.savefig(png_path, dpi=PLOT_DPI)
    plt.close(figure)
    return Path(png_path)
