# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy relabel <bag>... success|failure``: fix recorded episodes' outcomes afterwards.

The label lives in the bag's ``metadata.yaml`` (:mod:`cosmos_policy_ros.data.bag_labels`);
``convert`` reads it in preference to the END event recorded during the episode.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "Change the outcome label (success/failure) of recorded bags."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cosmos_policy_ros.data.bag_labels import OUTCOME_BY_NAME
    parser.add_argument("bags", nargs="+", type=Path, help="episode bag folder(s)")
    parser.add_argument("outcome", choices=tuple(OUTCOME_BY_NAME), help="the new label")


def run(args: argparse.Namespace) -> int:
    from cosmos_policy_ros.data.bag_labels import OUTCOME_BY_NAME, write_label
    names = {v: k for k, v in OUTCOME_BY_NAME.items()}
    failed = 0
    for bag in args.bags:
        try:
            previous = write_label(bag, OUTCOME_BY_NAME[args.outcome])
        except (FileNotFoundError, OSError) as err:
            print(f"cosmos-policy relabel: {err}", file=sys.stderr)
            failed += 1
            continue
        print(f"{bag}: {names.get(previous, 'unlabelled')} -> {args.outcome}")
    return 1 if failed else 0
