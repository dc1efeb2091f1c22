# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy episode start|end|discard``: the recorder's episodes from a shell.

``end`` needs an outcome label (``--success`` / ``--failure``; ``--unknown`` leaves it to
``cosmos-policy relabel``); ``discard`` throws away the running episode (else the last one) so
it can be recorded again.
"""
from __future__ import annotations

import argparse
import sys

HELP = "Start, end (with an outcome) or discard a recorded episode."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cosmos_policy_ros.ros.operator_client import add_graph_arguments
    parser.add_argument("action", choices=("start", "end", "discard"), help="What to do.")
    parser.add_argument("--task", default="", help="start: the instruction the episode is recorded with.")
    outcome = parser.add_mutually_exclusive_group()
    for name in ("success", "failure", "unknown"):
        outcome.add_argument(f"--{name}", dest="outcome", action="store_const", const=name,
                             help=f"end: label the episode '{name}'.")
    parser.add_argument("--discard", dest="outcome", action="store_const", const="discard",
                        help="end: throw the episode away (same as `episode discard`).")
    parser.add_argument("--note", default="", help="A note stored with the START/END event.")
    add_graph_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from cosmos_policy_ros.ros.operator_client import OUTCOMES, OperatorClient, run_verb

    def act(client: OperatorClient) -> str:
        if args.action == "start":
            return client.start_episode(args.task, args.note or "cosmos-policy episode start")
        if args.action == "discard" or args.outcome == "discard":
            return client.discard_episode()
        return client.end_episode(OUTCOMES[args.outcome], args.note or "cosmos-policy episode end")

    if args.action == "end" and args.outcome is None:
        print("cosmos-policy episode end: say how it went: --success, --failure, --unknown or --discard",
              file=sys.stderr)
        return 2
    return run_verb(args, "episode", act)
