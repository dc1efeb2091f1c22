# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy import-embeddings``: official ``*_t5_embeddings.pkl`` -> a checkpoint's text cache."""
from __future__ import annotations

import argparse
import logging

from cosmos_policy_ros.core.official_text import UnsafePickleError, add_to_checkpoint, load_official_embeddings

HELP = "Import an official *_t5_embeddings.pkl into a checkpoint's text cache (no code in it runs)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pickle", help="official {instruction: tensor(1, 512, 1024)} pickle")
    parser.add_argument("checkpoint", help="from_pretrained folder (e.g. written by convert-checkpoint)")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        embeddings = load_official_embeddings(args.pickle)
        cache = add_to_checkpoint(args.checkpoint, embeddings)
    except (UnsafePickleError, ValueError, OSError) as err:
        logging.error("%s", err)
        return 1
    logging.info("imported %d instructions into %s (%d known)", len(embeddings), args.checkpoint, len(cache))
    return 0
