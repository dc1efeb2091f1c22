# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy sim-demos <out>``: scripted-expert sim episodes -> training set (sim/demonstrations.py)."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Generate scripted-expert sim episodes straight into a training set (no ROS, many processes)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cosmos_policy_ros.ros.graph import use_headless_rendering
    use_headless_rendering()  # the episodes render here, and the imports below load mujoco
    from cosmos_policy_ros.presets import CONFIG_DIR
    from cosmos_policy_ros.sim.demonstrations import SimDemoConfig
    defaults = SimDemoConfig()
    parser.add_argument("out", type=Path, help="output folder (a training set, as cosmos-policy convert writes)")
    parser.add_argument("--robot", default=str(CONFIG_DIR / "demo" / "sim_arm_32.yaml"),
                        help="robot preset name or YAML path (cameras, their size, control rate)")
    parser.add_argument("--scene", default=str(CONFIG_DIR / "demo" / "scene_32.yaml"),
                        help="scene YAML ('' = default scene)")
    parser.add_argument("--task", default=defaults.task, help="sim task")
    parser.add_argument("--episodes", type=int, default=defaults.episodes, help="number of episodes")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="scene seed of episode 0 (scene s: seed + s)")
    parser.add_argument("--targets-per-scene", type=int, default=defaults.targets_per_scene,
                        help="consecutive episodes sharing a scene, each reaching another block")
    parser.add_argument("--noisy-share", type=float, default=defaults.noisy_share,
                        help="share of episodes run by the perturbed expert (failures for the value)")
    parser.add_argument("--far-share", type=float, default=defaults.far_share,
                        help="twin: share of episodes whose expert goes to the far twin (default: the seed's "
                             "random twin)")
    parser.add_argument("--time-limit-s", type=float, default=defaults.time_limit_s, help="sim seconds per episode")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="processes (0 = one per CPU)")
    parser.add_argument("--val-fraction", type=float, default=defaults.val_fraction,
                        help="share of episodes held out for validation")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from cosmos_policy_ros.presets import load_preset
    from cosmos_policy_ros.sim.demonstrations import SimDemoConfig, generate_sim_demos
    config = SimDemoConfig(task=args.task, episodes=args.episodes, seed=args.seed,
                           targets_per_scene=args.targets_per_scene, noisy_share=args.noisy_share,
                           far_share=args.far_share, time_limit_s=args.time_limit_s, scene=args.scene,
                           workers=args.workers, val_fraction=args.val_fraction)
    summaries = generate_sim_demos(load_preset(args.robot), config, args.out,
                                   progress=lambda items: tqdm(items, total=config.episodes, desc="sim demos",
                                                               unit="episode"))
    successes = sum(s.outcome == "success" for s in summaries)
    print(f"{len(summaries)} episodes ({successes} successful) written to {args.out}")
    return 0
