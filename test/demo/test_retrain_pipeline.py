# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy demo --retrain`` end to end on a tiny budget, on the real node graph.

Real processes over DDS (sim_arm, both experts, command_arbiter, recorder, then policy_node),
real bags, the real converter and trainer, in-process sim demos; only the sizes are tiny (4 demos,
3 sim demos, 2 rollouts, 2 optimizer steps per stage), so the checkpoint is not expected to be good, only complete.
"""
from __future__ import annotations

import dataclasses
import json

import pytest

from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.data.training_set import read_index
from cosmos_policy_ros.demo.config import DemoConfig
from cosmos_policy_ros.demo.pipeline import CHECKPOINT_FILES, SIM_DEMO_SEED_OFFSET, RetrainConfig, retrain
from cosmos_policy_ros.train.vae_pretraining import VAEPretrainConfig
from cosmos_policy_ros.sim.arm_sim import ArmSim
from cosmos_policy_ros.sim.demonstrations import scene_target
from cosmos_policy_ros.sim.scene import build_scene_config
from cosmos_policy_ros.sim.tasks import make_task

TINY_TRAINING = ("steps=2", "global_batch_size=4", "warmup_steps=1", "decay_steps=2", "checkpoint_every_steps=2",
                 "log_every_steps=1", "val_max_samples=4", "val_action_samples=1")

pytestmark = [pytest.mark.train, pytest.mark.slow, pytest.mark.ros]


def test_retrain_pipeline_on_a_tiny_budget(ros_domain, tmp_path):
    config = dataclasses.replace(RetrainConfig.from_yaml(), num_demos=4, noisy_share=0.5, num_rollouts=2,
                                 sim_demos=3, sim_demo_workers=1,
                                 calibration_images=4, vae_pretrain=VAEPretrainConfig(steps=2, batch_size=2, num_images=4),
                                 output_checkpoint=str(tmp_path / "checkpoint"),
                                 step_overrides=TINY_TRAINING)
    messages: list[str] = []
    folder = retrain(config, tmp_path / "work", messages.append)

    assert sorted(p.name for p in folder.iterdir()) == sorted(CHECKPOINT_FILES)
    model = CosmosPolicy.from_pretrained(folder)
    assert model.config.layout.image_height == 32  # config/demo/sim_arm_32.yaml
    assert any(abs(m) > 0 for m in model.config.vae.latents_mean)  # calibrated, not the raw 0 / 1
    demos = read_index(tmp_path / "work" / "demos")
    assert len(demos["episodes"]) == 4 and not any(e["is_rollout"] for e in demos["episodes"])
    assert {e["outcome"] for e in demos["episodes"]} <= {"success", "failure"}
    # The policy trains on the instruction the sim gave each scene (which block to touch), in order.
    task = make_task(config.task, config.task_config())
    sim = ArmSim(build_scene_config([("primary", 32, 32)], DemoConfig.resolve(config.scene)))
    expected = [task.reset(sim, *config.demo_scene(index)).instruction for index in range(4)]
    assert [e["instruction"] for e in demos["episodes"]] == expected
    sim_demos = read_index(tmp_path / "work" / "sim_demos")  # stage (a2), trained on with the demos
    scenes = [scene_target(i, config.seed + SIM_DEMO_SEED_OFFSET, config.targets_per_scene,
                           task.config.target_colours) for i in range(3)]
    assert [e["source"] for e in sim_demos["episodes"]] == [
        f"sim:reach:seed={seed}:target={task.reset(sim, seed, target).target_colour}" for seed, target in scenes]
    rollouts = read_index(tmp_path / "work" / "rollouts")
    # Two rollout episodes were recorded with the policy in the loop. `is_rollout` (the policy
    # commanded at least one step) is not asserted: a 2-step model's chunks may all be rejected.
    assert len(rollouts["episodes"]) == 2
    metrics = [json.loads(line) for line in (tmp_path / "work" / "train_planning" / "metrics.jsonl").open()]
    assert metrics, "the planning fine-tune logged no step"
    stages = [m for m in messages if m.startswith("[retrain]") and " done in " in m]
    assert len(stages) == 9, stages
