# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy estop``: latch the command arbiter's emergency stop."""
from __future__ import annotations

import argparse

HELP = "Latch the e-stop (the arm holds until `cosmos-policy reset`)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cosmos_policy_ros.ros.operator_client import add_graph_arguments
    add_graph_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from cosmos_policy_ros.ros.operator_client import run_verb
    return run_verb(args, "estop", lambda client: client.estop())
