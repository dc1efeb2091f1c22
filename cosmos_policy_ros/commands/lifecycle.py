# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy lifecycle <node> [transition ...]``: a managed node's state, or transitions.

``cosmos-policy lifecycle policy_node configure activate`` starts the policy (what ``ros2
lifecycle set`` does twice); without a transition it prints the node's state.
"""
from __future__ import annotations

import argparse
import sys

HELP = "Show or change a lifecycle node's state (configure, activate, deactivate, cleanup, shutdown)."
TRANSITIONS = ("configure", "activate", "deactivate", "cleanup", "shutdown")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cosmos_policy_ros.ros.operator_client import add_graph_arguments
    parser.add_argument("node", help="The node's name, e.g. policy_node.")
    # no choices=: argparse rejects an empty nargs="*" list against choices (CPython gh-72795)
    parser.add_argument("transitions", nargs="*", metavar="TRANSITION",
                        help=f"Transitions to run in order ({', '.join(TRANSITIONS)}).")
    add_graph_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from cosmos_policy_ros.ros.operator_client import OperatorClient, run_verb

    unknown = [t for t in args.transitions if t not in TRANSITIONS]
    if unknown:
        print(f"cosmos-policy lifecycle: unknown transition(s) {unknown}; use {', '.join(TRANSITIONS)}",
              file=sys.stderr)
        return 2

    def act(client: OperatorClient) -> str:
        state = client.lifecycle_state(args.node)
        for label in args.transitions:
            state = client.lifecycle_transition(args.node, label)
        return f"{args.node}: {state}"

    return run_verb(args, "lifecycle", act)
