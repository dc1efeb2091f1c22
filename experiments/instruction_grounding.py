# SPDX-License-Identifier: Apache-2.0
"""Does a demo checkpoint head for the block its instruction names? A first-chunk probe, no ROS.

Why: the reach scene has three blocks, and the instruction names one. A policy that sees the blocks
but ignores the instruction heads for somewhere between them: it touches nothing, and the
closed-loop success rate alone does not say why. For held-out scenes (the arm at its home pose)
this probe samples the first action chunk as the policy node would and compares the shoulder pan
at the chunk's last step with two bearings seen from the arm's base:

* ``corr_target``: correlation with the bearing of the instructed block (what a grounded policy shows);
* ``corr_blocks_mean``: correlation with the mean bearing of all blocks (what a policy shows that
  localizes blocks but ignores the instruction);
* ``pan_spread`` / ``target_spread``: std of the predicted pans and of the target bearings across
  scenes (a policy that hedges has a spread far below the targets');
* ``instruction_sensitivity``: mean |change| of that pan when the colour word names another block.

It takes about 10 s per 24 scenes on 2 CPU cores. Last line, machine-readable:
``instruction_grounding scenes=<n> corr_target=<a> corr_blocks_mean=<b> pan_spread=<c>
target_spread=<d> instruction_sensitivity=<e>``.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.demo.config import DemoConfig
from cosmos_policy_ros.presets import load_preset
from cosmos_policy_ros.sim.arm_sim import ArmSim
from cosmos_policy_ros.sim.scene import BLOCK_COLOURS, block_body, build_scene_config
from cosmos_policy_ros.sim.tasks import TaskConfig, make_task

from bench.timing import hardware_line

PAN = 0  # shoulder_pan_joint: first joint of the sim_arm preset


def bearing(sim: ArmSim, body: str) -> float:
    """Angle of ``body`` around the arm's base (the pan that points the arm at it)."""
    x, y = sim.body_pose(body).position[:2]
    return float(np.arctan2(y, x))


def probe(model: CosmosPolicy, sim: ArmSim, seeds: list[int], task: str = "reach",
          task_config: TaskConfig = TaskConfig()) -> dict[str, float]:
    """The statistics of the module docstring over the scenes ``seeds`` (targets: ``task_config``'s)."""
    reach = make_task(task, task_config)
    pans, targets, means, changes = [], [], [], []
    for seed in seeds:
        episode = reach.reset(sim, seed)
        images = {c.name: sim.render(c.name) for c in sim.config.cameras}
        proprio = sim.joint_positions()
        pans.append(model.act(images, proprio, episode.instruction, seed=0).actions[-1][PAN])
        other = next(c for c in BLOCK_COLOURS if c != episode.target_colour)
        swapped = episode.instruction.replace(episode.target_colour, other)
        changes.append(abs(model.act(images, proprio, swapped, seed=0).actions[-1][PAN] - pans[-1]))
        targets.append(bearing(sim, episode.target_block))
        means.append(float(np.mean([bearing(sim, block_body(c)) for c in BLOCK_COLOURS])))
    pans_a = np.asarray(pans)
    return {"corr_target": float(np.corrcoef(pans_a, targets)[0, 1]),
            "corr_blocks_mean": float(np.corrcoef(pans_a, means)[0, 1]),
            "pan_spread": float(pans_a.std()), "target_spread": float(np.std(targets)),
            "instruction_sensitivity": float(np.mean(changes))}


def main() -> None:
    defaults = DemoConfig.from_yaml()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=defaults.checkpoint, help="model folder (from_pretrained)")
    parser.add_argument("--preset", default=defaults.preset, help="robot preset (camera sizes)")
    parser.add_argument("--scene", default=defaults.scene, help="scene YAML the checkpoint was trained in")
    parser.add_argument("--scenes", type=int, default=24, help="held-out scenes")
    parser.add_argument("--seed", type=int, default=defaults.seed_offset, help="first scene seed")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = CosmosPolicy.from_pretrained(DemoConfig.resolve(args.checkpoint))
    cameras = [(c.name, c.height, c.width) for c in load_preset(DemoConfig.resolve(args.preset)).cameras]
    scene = DemoConfig.resolve_optional(args.scene)
    sim = ArmSim(build_scene_config(cameras, scene))
    print(hardware_line())
    seeds = list(range(args.seed, args.seed + args.scenes))
    stats = probe(model, sim, seeds, task_config=TaskConfig.for_scene(scene))
    print("instruction_grounding scenes=%d " % args.scenes
          + " ".join(f"{key}={value:.3f}" for key, value in stats.items()))


if __name__ == "__main__":
    main()
