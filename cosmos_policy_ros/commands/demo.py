# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy demo``: the closed-loop demo on the sim arm (``--retrain``: the whole pipeline first).

Without ``--retrain`` it runs the shipped checkpoint (``checkpoints/demo_reach``; ``--task twin``:
``checkpoints/demo_twin`` with ``config/demo/demo_twin.yaml``): K seeded
episodes with the plain policy, K with plan-and-select, one hand-off episode (``--lockstep``: the
2K policy episodes in one process on a frozen sim clock, ``demo/lockstep.py``); it prints a table
and, last, ``demo task=<name> episodes=<k> success_n1=<a> success_plan=<b> value_auc=<c>``.
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

HELP = "Run the simulated closed-loop demo (record -> train -> plan-and-select -> hand-off)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cosmos_policy_ros.ros.graph import use_headless_rendering
    use_headless_rendering()  # --lockstep renders here, and the imports below load mujoco
    from cosmos_policy_ros.demo.config import DEFAULT_TASK
    from cosmos_policy_ros.demo.pipeline import STAGES
    parser.add_argument("--task", default=DEFAULT_TASK,
                        help="sim task; its demo and retrain YAMLs are config/demo/demo[_<task>].yaml and "
                             "retrain[_<task>].yaml (reach: the quick demo; twin: where plan-and-select pays)")
    parser.add_argument("--config", type=Path, default=None,
                        help="demo YAML (default: the task's, config/demo/demo.yaml for reach)")
    parser.add_argument("--episodes", type=int, default=None,
                        help="episodes per setting (default: the config's)")
    parser.add_argument("--seed", type=int, default=None, help="run seed (scene seeds follow from it)")
    parser.add_argument("--out", type=Path, default=Path("outputs/demo"), help="output folder")
    parser.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the shipped one)")
    parser.add_argument("--retrain", action="store_true",
                        help="first rebuild the checkpoint: collect, convert, train, roll out, fine-tune "
                             "(work folder <out>/retrain; finished stages there are reused)")
    parser.add_argument("--retrain-config", type=Path, default=None,
                        help="retrain YAML (default: the task's, config/demo/retrain.yaml for reach)")
    parser.add_argument("--retrain-until", default=None, choices=STAGES, metavar="STAGE",
                        help=f"stop the retrain after this stage, one of {', '.join(STAGES)}")
    parser.add_argument("--lockstep", action="store_true",
                        help="run the N=1 and plan-and-select episodes in this process with sim time frozen "
                             "while the policy decides (no ROS graph): deterministic, independent of the "
                             "CPU/GPU's speed; no hand-off episode and no teleop")
    parser.add_argument("--print-config", action="store_true", help="print the resolved demo config and exit")


def _demo_config(args: argparse.Namespace):
    from cosmos_policy_ros.demo.config import DemoConfig, task_config_file
    config = DemoConfig.from_yaml(args.config or task_config_file("demo", args.task))
    if config.task != args.task and args.config is None:
        raise ValueError(f"{task_config_file('demo', args.task)} runs task {config.task!r}, not {args.task!r}")
    changes = {k: v for k, v in (("episodes", args.episodes), ("seed", args.seed),
                                 ("checkpoint", args.checkpoint)) if v is not None}
    return config.replace(**changes)


def run(args: argparse.Namespace) -> int:
    import yaml

    from cosmos_policy_ros.ros.dds_env import DOMAIN_VAR, DomainLease
    config = _demo_config(args)
    if args.print_config:
        print(yaml.safe_dump(config.__dict__, sort_keys=False), end="")
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with DomainLease() as lease:  # a ROS domain of our own unless the user chose one
        os.environ.setdefault(DOMAIN_VAR, str(lease.domain_id))
        if args.retrain:
            from cosmos_policy_ros.demo.config import DemoConfig, task_config_file
            from cosmos_policy_ros.demo.pipeline import RetrainConfig, retrain
            retrain_config = RetrainConfig.from_yaml(args.retrain_config or task_config_file("retrain", config.task))
            folder = retrain(retrain_config, args.out / "retrain", print, args.retrain_until)
            if folder is None:
                return 0
            planner = retrain_config.output_planning_checkpoint
            config = config.replace(checkpoint=str(folder.resolve()),
                                    planning_checkpoint=DemoConfig.resolve_optional(planner) if planner else "")
        from cosmos_policy_ros.demo.run import run_demo
        outcome = run_demo(config, args.out, print, lockstep=args.lockstep)
    print(outcome.last_line())
    return 0
