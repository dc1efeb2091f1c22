# SPDX-License-Identifier: Apache-2.0
"""Checkpoints a user can pick: every step is a from_pretrained folder, the best validation is
marked (and never pruned), validation reaches the console and TensorBoard, and a run never
silently continues another run's checkpoints."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.train import checkpoint as ckpt
from cosmos_policy_ros.train.metrics_log import TENSORBOARD_DIR, read_metrics
from cosmos_policy_ros.train.trainer import RunMismatch, Trainer

pytestmark = pytest.mark.train


def test_steps_load_best_is_marked_and_validation_is_logged(make_config, caplog):
    config = make_config("picked", steps=4, checkpoint_every_steps=2, keep_checkpoints=1, val_every_steps=1)
    with caplog.at_level(logging.INFO, logger="cosmos_policy_ros.train.trainer"):
        Trainer(config).run()
    out = Path(config.output_dir)
    val = {r["step"]: r["val_action_mse"] for r in read_metrics(out / "metrics.jsonl") if r["kind"] == "val"}
    assert sorted(val) == [1, 2, 3, 4]
    best_step = min(val, key=val.get)
    record = ckpt.best_record(out)
    assert (record["step"], record["metric"], record["value"]) == (best_step, "val_action_mse", val[best_step])
    best = ckpt.best_checkpoint(out)
    assert os.path.realpath(out / "checkpoints" / ckpt.BEST_LINK) == os.path.realpath(best)
    kept = ckpt.list_checkpoints(out)
    assert kept[-1].name == "step_00000004" and best in kept  # keep_checkpoints=1 spares the best
    for folder in kept:
        assert CosmosPolicy.from_pretrained(folder).config == CosmosPolicy.from_pretrained(out / "final").config
    assert any(f"validation at step {s}: " in caplog.text for s in val)
    events = EventAccumulator(str(out / TENSORBOARD_DIR))
    events.Reload()
    assert [e.step for e in events.Scalars("val/val_action_mse")] == [1, 2, 3, 4]
    assert len(events.Scalars("train/loss")) == 4


def test_a_changed_run_refuses_to_resume_unless_asked(make_config):
    Trainer(make_config("shared", steps=2)).run()
    with pytest.raises(RunMismatch, match="differs in: learning_rate"):
        Trainer(make_config("shared", steps=4, learning_rate=5e-4))
    assert Trainer(make_config("shared", steps=4)).step == 2  # more steps: the same run goes on
    asked = Trainer(make_config("shared", steps=4, learning_rate=5e-4,
                                resume=str(ckpt.list_checkpoints(Path(make_config("shared").output_dir))[-1])))
    assert asked.step == 2


def test_pruning_spares_the_best_checkpoint(tmp_path):
    def state(step: int) -> ckpt.TrainingState:
        return ckpt.TrainingState(step, {"w": torch.zeros(1)}, {}, {}, {}, {"torch": torch.get_rng_state()})

    first = ckpt.save_checkpoint(tmp_path, state(1), "steps: 3\n", keep=1, data={})
    ckpt.mark_best(tmp_path, first, "val_action_mse", 0.1)
    for step in (2, 3):
        ckpt.save_checkpoint(tmp_path, state(step), "steps: 3\n", keep=1, data={})
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step_00000001", "step_00000003"]
    assert ckpt.best_checkpoint(tmp_path) == first
