# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy mode policy|teleop|hold``: ask the command arbiter for a mode."""
from __future__ import annotations

import argparse

HELP = "Switch the command arbiter's mode (policy, teleop, hold); non-zero when it refuses."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cosmos_policy_ros.ros.operator_client import add_graph_arguments
    parser.add_argument("mode", choices=("policy", "teleop", "hold"), help="The mode to switch to.")
    parser.add_argument("--reason", default="operator (cosmos-policy mode)", help="Reason logged with the change.")
    add_graph_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from cosmos_policy_ros.ros.operator_client import MODES, run_verb
    return run_verb(args, "mode", lambda client: client.set_mode(MODES[args.mode], args.reason))
