# SPDX-License-Identifier: Apache-2.0
"""The ``cosmos-policy`` command.

Each subcommand is a module in ``cosmos_policy_ros.commands`` exposing ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only when their
subcommand runs, so ``cosmos-policy --help`` stays fast and ROS-free subcommands (train,
convert) never import rclpy.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from cosmos_policy_ros.crash_traces import enable_crash_traces

SUBCOMMANDS = {
    "demo": "Run the simulated closed-loop demo (record -> train -> plan-and-select -> hand-off).",
    "up": "Start a node set (bringup, sim_demo, record) without ros2 launch.",
    "record": "Record the preset's topics to rosbag2 MCAP, one bag per episode.",
    "convert": "Convert recorded bags into a training set (aligned samples, value targets, stats).",
    "sim_demos": "Generate scripted-expert sim episodes straight into a training set (no ROS, many processes).",
    "train": "Train or fine-tune a Cosmos Policy model (run under torchrun for several processes).",
    "eval": "Replay recorded episodes through a policy offline: action error, value AUC, plots.",
    "convert_checkpoint": "Convert an official Cosmos Policy checkpoint into a from_pretrained folder.",
    "import_embeddings": "Import an official *_t5_embeddings.pkl into a checkpoint (restricted unpickler).",
    "embed_instructions": "Embed new instructions with a local T5 encoder into a checkpoint.",
    "doctor": "Check the installation: ROS 2, interfaces, DDS settings, torch, rendering.",
    # Operating a running graph (cosmos_policy_ros.ros.operator_client): no ros2 CLI needed.
    "console": "Operator console: live status and one-key actions (e-stop, modes, episodes).",
    "mode": "Switch the command arbiter's mode (policy, teleop, hold); non-zero when it refuses.",
    "estop": "Latch the e-stop (the arm holds until `cosmos-policy reset`).",
    "reset": "Clear a latched e-stop; the arbiter goes to HOLD.",
    "episode": "Start, end (with an outcome) or discard a recorded episode.",
    "lifecycle": "Show or change a lifecycle node's state (configure, activate, ...).",
    "instruction": "Give policy_node a new instruction (task text).",
    "relabel": "Change the outcome label (success/failure) of recorded bags.",
}


def _module(name: str):
    return importlib.import_module(f"cosmos_policy_ros.commands.{name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cosmos-policy", description="Cosmos Policy on ROS 2 robot arms.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in SUBCOMMANDS.items():
        sub.add_parser(name.replace("_", "-"), help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    enable_crash_traces()
    argv = sys.argv[1:] if argv is None else argv
    top = build_parser()
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0
    name = argv[0].replace("-", "_")
    if name not in SUBCOMMANDS:
        top.parse_args(argv[:1])  # prints argparse's "invalid choice" error and exits 2
    try:
        module = _module(name)
    except ModuleNotFoundError as err:
        if err.name == f"cosmos_policy_ros.commands.{name}":
            print(f"cosmos-policy: '{argv[0]}' is not available in this build", file=sys.stderr)
            return 2
        raise
    parser = argparse.ArgumentParser(prog=f"cosmos-policy {argv[0]}", description=module.HELP)
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(argv[1:])) or 0)


if __name__ == "__main__":
    sys.exit(main())
