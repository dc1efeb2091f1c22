# SPDX-License-Identifier: Apache-2.0
"""Offline evaluation: the hand-written ROC AUC on constructed cases, and an open-loop replay."""
from __future__ import annotations

import json
from itertools import product
from pathlib import Path

import numpy as np
import pytest
import torch

from cosmos_policy_ros.cli import main as cli_main
from cosmos_policy_ros.core.config import get_preset
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.data.dataset import EpisodeDataset
from cosmos_policy_ros.train.evaluation import REPORT_FILE, auc_note, evaluate, roc_auc
from cosmos_policy_ros.train.trainer import Trainer
from cosmos_policy_ros.train.model_init import data_layout, training_statistics


def _pairwise_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Definition: P(positive > negative) + 0.5 P(tie), by counting every pair."""
    pos, neg = scores[labels], scores[~labels]
    wins = sum((p > n) + 0.5 * (p == n) for p, n in product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_auc_of_constructed_cases():
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(0.75)
    assert roc_auc(np.array([0.1, 0.2, 0.3, 0.9]), np.array([0, 0, 1, 1])) == 1.0
    assert roc_auc(np.array([0.9, 0.8, 0.3, 0.1]), np.array([0, 0, 1, 1])) == 0.0
    assert roc_auc(np.full(5, 0.5), np.array([0, 1, 0, 1, 1])) == 0.5  # all tied
    assert np.isnan(roc_auc(np.array([0.2, 0.3]), np.array([1, 1])))


def test_auc_matches_the_pairwise_definition_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        scores = rng.integers(0, 5, size=30) / 4.0  # many ties
        labels = rng.random(30) < 0.4
        assert roc_auc(scores, labels) == pytest.approx(_pairwise_auc(scores, labels))


@pytest.mark.train
def test_eval_command_replays_episodes_open_loop(training_set, tmp_path):
    torch.manual_seed(0)
    model = CosmosPolicy(get_preset("tiny", layout=data_layout([str(training_set)])),
                         training_statistics([str(training_set)]))
    model.save_pretrained(tmp_path / "model")
    out = tmp_path / "eval"
    assert cli_main(["eval", "--checkpoint", str(tmp_path / "model"), "--data", str(training_set),
                     "--out", str(out),
                     "--split", "val", "--stride", "3"]) == 0
    report = json.loads((out / REPORT_FILE).read_text())
    dataset = EpisodeDataset(training_set, "val")
    assert report["num_samples"] == len(range(0, len(dataset), 3)) and report["num_episodes"] == 2
    assert len(report["mse_per_joint"]) == 3 and len(report["mse_per_chunk_step"]) == dataset.chunk_length
    direct = evaluate(CosmosPolicy.from_pretrained(tmp_path / "model"), dataset, stride=3, progress=False)
    assert direct.action_mse == pytest.approx(report["action_mse"])
    values = [v for e in direct.episodes for v in e["values"]]
    labels = [e["outcome"] == "success" for e in direct.episodes for _ in e["values"]]
    assert direct.value_auc == pytest.approx(roc_auc(np.array(values), np.array(labels)))
    assert (out / "eval.png").stat().st_size > 0


def test_auc_note_says_why_the_auc_is_undefined():
    assert "no failed episode" in auc_note([True, True])
    assert "no successful episode" in auc_note([False])
    assert auc_note([True, False]) == ""


@pytest.mark.train
def test_eval_of_a_mid_run_step_names_episodes_and_joints_and_keeps_earlier_results(
        make_config, training_set, tmp_path, monkeypatch, capsys):
    config = make_config("mid", steps=2, checkpoint_every_steps=1, keep_checkpoints=5)
    Trainer(config).run()
    step = Path(config.output_dir) / "checkpoints" / "step_00000001"
    monkeypatch.chdir(tmp_path)
    command = ["eval", "--checkpoint", str(step), "--data", str(training_set), "--split", "val", "--stride", "4"]
    assert cli_main(command) == 0 and cli_main(command) == 0
    first, second = tmp_path / "eval/mid-step_00000001", tmp_path / "eval/mid-step_00000001-2"
    report = json.loads((first / REPORT_FILE).read_text())
    assert (second / REPORT_FILE).is_file()  # the second run did not overwrite the first
    index = json.loads((training_set / "index.json").read_text())
    assert report["joint_names"] == index["joints"]
    ids = {e["episode_id"] for e in index["episodes"]}
    assert {e["episode_id"] for e in report["episodes"]} <= ids
    printed = capsys.readouterr().out
    assert "mse per joint: " + index["joints"][0] in printed
    with pytest.raises(SystemExit, match="already holds a report"):
        cli_main([*command, "--out", str(first)])
    with pytest.raises(SystemExit, match="is not a model folder"):
        cli_main(["eval", "--checkpoint", str(tmp_path), "--data", str(training_set)])
