# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy embed-instructions``: T5 embeddings of new instructions, exactly as upstream encodes."""
from __future__ import annotations

import argparse
import logging

from cosmos_policy_ros.core.config import CosmosPolicyConfig
from cosmos_policy_ros.core.official_text import add_to_checkpoint, encode_instructions
from cosmos_policy_ros.core.pretrained import CONFIG_FILE

HELP = "Embed instructions with a local T5 encoder (transformers) into a checkpoint's text cache."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="from_pretrained folder")
    parser.add_argument("instructions", nargs="+", help="instruction texts")
    parser.add_argument("--t5", required=True, help="local folder of the T5 encoder and tokenizer "
                        "(google-t5/t5-11b for the official models; nothing is downloaded)")
    parser.add_argument("--device", default="cpu", help="torch device of the encoder (cpu, cuda, cuda:1)")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        config = CosmosPolicyConfig.from_json(f"{args.checkpoint}/{CONFIG_FILE}")
        embeddings = encode_instructions(args.instructions, args.t5, config.dit.text_max_tokens, args.device)
        cache = add_to_checkpoint(args.checkpoint, dict(zip(args.instructions, embeddings)))
    except (ValueError, OSError) as err:
        logging.error("%s", err)
        return 1
    logging.info("embedded %d instructions into %s (%d known)", len(args.instructions), args.checkpoint, len(cache))
    return 0
