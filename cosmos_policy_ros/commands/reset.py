# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy reset``: clear a latched e-stop (the arbiter goes to HOLD)."""
from __future__ import annotations

import argparse

HELP = "Clear a latched e-stop; the arbiter goes to HOLD."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cosmos_policy_ros.ros.operator_client import add_graph_arguments
    add_graph_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from cosmos_policy_ros.ros.operator_client import run_verb
    return run_verb(args, "reset", lambda client: client.reset())
