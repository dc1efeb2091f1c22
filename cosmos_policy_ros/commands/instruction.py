# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy instruction "<text>"``: the task the policy conditions on from now on."""
from __future__ import annotations

import argparse

HELP = "Give policy_node a new instruction (task text)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cosmos_policy_ros.ros.operator_client import add_graph_arguments
    parser.add_argument("text", help="The instruction, e.g. 'put the red block in the bowl'.")
    add_graph_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from cosmos_policy_ros.ros.operator_client import run_verb
    return run_verb(args, "instruction", lambda client: client.set_instruction(args.text))
