# SPDX-License-Identifier: Apache-2.0
"""Trainer runs on CPU: torchrun with 2 processes (gloo) equals 1 process, exact resume, learning."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rank_probe
import torch

from cosmos_policy_ros.core.codec import DatasetStatistics
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.core.pretrained import STATISTICS_FILE
from cosmos_policy_ros.train.checkpoint import list_checkpoints
from cosmos_policy_ros.train.metrics_log import PLOT_FILE, read_metrics
from cosmos_policy_ros.train import trainer
from cosmos_policy_ros.train.trainer import FINAL_DIR, Trainer

pytestmark = pytest.mark.train
DDP_RTOL = 1e-4  # fp32 sums over another batch split differ in the last bits
TORCHRUN_TIMEOUT_S = 300


def _losses(output_dir: str, key: str = "loss") -> dict[int, float]:
    records = read_metrics(Path(output_dir) / "metrics.jsonl")
    return {r["step"]: r[key] for r in records if r["kind"] == "train"}


def test_torchrun_two_processes_follow_the_one_process_loss_trajectory(make_config, tmp_path, monkeypatch):
    """Two ranks train on disjoint halves of the same global batches as one process, with the same losses."""
    single = make_config("single", steps=3)
    (tmp_path / "single_batches").mkdir()
    monkeypatch.setattr(trainer, "DataLoader", rank_probe.logging_loader(tmp_path / "single_batches", 0))
    Trainer(single).run()
    monkeypatch.undo()  # the real DataLoader again
    double = make_config("double", steps=3)
    config_file = tmp_path / "double.yaml"
    config_file.write_text(double.to_yaml())
    (tmp_path / "double_batches").mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           rank_probe.__file__, str(tmp_path / "double_batches"), "--config", str(config_file)],
                          env=env, capture_output=True, text=True, timeout=TORCHRUN_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    # each rank saw its own shard: half of each global batch, disjoint, together the one-process batch
    whole = rank_probe.read_batches(tmp_path / "single_batches", 0)
    rank0, rank1 = (rank_probe.read_batches(tmp_path / "double_batches", r) for r in (0, 1))
    assert [len(whole), len(rank0), len(rank1)] == [single.steps] * 3, "batches of: 1 process, rank 0, rank 1"
    for step, (full, a, b) in enumerate(zip(whole, rank0, rank1)):
        assert len(a) == len(b) == single.global_batch_size // 2, (step, a, b)
        assert not set(a) & set(b), f"step {step}: both ranks trained on {sorted(set(a) & set(b))}"
        assert sorted(a + b) == sorted(full), (step, a, b, full)
    one, two = _losses(single.output_dir), _losses(double.output_dir)
    assert sorted(one) == sorted(two) == [1, 2, 3]
    np.testing.assert_allclose([two[s] for s in one], [one[s] for s in one], rtol=DDP_RTOL)
    a = CosmosPolicy.from_pretrained(Path(single.output_dir) / FINAL_DIR).transformer.state_dict()
    b = CosmosPolicy.from_pretrained(Path(double.output_dir) / FINAL_DIR).transformer.state_dict()
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-3, atol=1e-5)


def test_resume_continues_the_exact_loss_sequence(make_config):
    straight = make_config("straight", steps=4, ema_decay=0.9)
    Trainer(straight).run()
    interrupted = make_config("resumed", steps=2, ema_decay=0.9)
    Trainer(interrupted).run()
    assert [p.name for p in list_checkpoints(interrupted.output_dir)] == ["step_00000002"]
    resumed = Trainer(make_config("resumed", steps=4, ema_decay=0.9))
    assert resumed.step == 2
    resumed.run()
    assert _losses(resumed.config.output_dir) == _losses(straight.output_dir)  # bit-exact
    a = CosmosPolicy.from_pretrained(Path(straight.output_dir) / FINAL_DIR).transformer.state_dict()
    b = CosmosPolicy.from_pretrained(Path(resumed.config.output_dir) / FINAL_DIR).transformer.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_loss_goes_down_on_a_learnable_set(make_config):
    config = make_config("learn", steps=40, learning_rate=3e-3, warmup_steps=2, decay_steps=40,
                         val_max_samples=8, val_action_samples=4)
    trainer = Trainer(config)
    before = trainer.validator.run()
    trainer.run()
    after = [r for r in read_metrics(Path(config.output_dir) / "metrics.jsonl") if r["kind"] == "val"][-1]
    assert after["val_loss_policy"] < 0.7 * before["val_loss_policy"], (before, after)
    assert after["val_action_mse"] < before["val_action_mse"], (before, after)
    assert (Path(config.output_dir) / PLOT_FILE).stat().st_size > 0
    final = CosmosPolicy.from_pretrained(Path(config.output_dir) / FINAL_DIR)
    expected = DatasetStatistics.from_json(Path(config.data_roots[0]) / STATISTICS_FILE)
    assert final.statistics.to_dict() == expected.to_dict()  # the training set's, not identity


def test_max_minutes_ends_the_run_early_with_a_final_model(make_config):
    config = make_config("timed", steps=50, max_minutes=1e-9)  # out of time at the first check
    folder = Trainer(config).run()
    assert sorted(_losses(config.output_dir)) == [1]
    assert [p.name for p in list_checkpoints(config.output_dir)] == ["step_00000001"]
    assert CosmosPolicy.from_pretrained(folder).config.dit.num_layers >= 1


def test_a_fine_tune_keeps_its_initial_statistics_when_asked(make_config):
    base = Trainer(make_config("base", steps=1)).run()
    data_stats = DatasetStatistics.from_json(base / STATISTICS_FILE).to_dict()
    wider = {key: [v - 0.5 if key.endswith("_min") else v + 0.5 if key.endswith("_max") else v for v in values]
             for key, values in data_stats.items()}  # the deployed model's units differ from the new data's
    DatasetStatistics.from_dict(wider).to_json(base / STATISTICS_FILE)
    kept = Trainer(make_config("kept", steps=1, init_checkpoint=str(base), statistics_from="init")).run()
    moved = Trainer(make_config("moved", steps=1, init_checkpoint=str(base))).run()
    assert DatasetStatistics.from_json(kept / STATISTICS_FILE).to_dict() == wider
    assert DatasetStatistics.from_json(moved / STATISTICS_FILE).to_dict() == data_stats
    with pytest.raises(ValueError, match="statistics_from"):
        make_config("no_init", statistics_from="init")
