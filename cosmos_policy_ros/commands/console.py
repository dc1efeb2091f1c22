# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy console``: the operator console (a terminal UI) for a running graph.

Space is the e-stop, always; p/t/h switch to policy/teleop/hold, r resets a latched e-stop,
s starts a recorded episode with the current instruction, y/f end it as success/failure, d
discards it (re-record), i sends the next ``--instruction`` to the policy, q quits.
"""
from __future__ import annotations

import argparse

HELP = "Operator console: live status and one-key actions (e-stop, modes, episodes)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cosmos_policy_ros.ros.console import ACTION_TIMEOUT_S
    parser.add_argument("--namespace", default="", help="ROS namespace of the graph (as given to `up`).")
    parser.add_argument("--instruction", action="append", default=[], metavar="TEXT",
                        help="an instruction the `i` key cycles through (and episodes are recorded "
                             "with); repeatable")
    parser.add_argument("--timeout", type=float, default=ACTION_TIMEOUT_S,
                        help="seconds a key's service call waits for the node")


def run(args: argparse.Namespace) -> int:
    from cosmos_policy_ros.ros.console import OperatorConsole
    from cosmos_policy_ros.ros.operator_client import OperatorClient, spinning
    with spinning(lambda: OperatorClient("operator_console", args.namespace, args.timeout)) as client:
        OperatorConsole(client, args.instruction).run()
    return 0
