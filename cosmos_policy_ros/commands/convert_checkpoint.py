# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy convert-checkpoint``: official checkpoint -> from_pretrained folder."""
from __future__ import annotations

import argparse
import logging

from cosmos_policy_ros.core.acceleration import DTYPES, LEVER_DTYPES
from cosmos_policy_ros.core.codec import DatasetStatistics
from cosmos_policy_ros.core.config import LAYOUTS, available_presets, get_preset
from cosmos_policy_ros.core.convert_official import CheckpointError, convert_checkpoint, official_layout
from cosmos_policy_ros.presets import load_preset

HELP = "Convert an official Cosmos Policy checkpoint into a from_pretrained folder."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="official .pt (read with weights_only=True) or .safetensors file")
    parser.add_argument("out_folder", help="destination folder (config.json, model.safetensors, ...)")
    parser.add_argument("--vae", required=True,
                        help="Wan2.1 VAE weights in diffusers format (AutoencoderKLWan safetensors)")
    parser.add_argument("--statistics", required=True, help="the checkpoint's *_dataset_statistics.json")
    parser.add_argument("--preset", default="cosmos-predict2-2b", choices=available_presets(),
                        help="model size preset (default: the official 2B)")
    parser.add_argument("--layout", default="libero", choices=sorted(LAYOUTS),
                        help="robot layout the checkpoint was trained for (sets the official step counts: "
                             "ALOHA 10 policy evaluations, LIBERO/RoboCasa 5; futures/values 5)")
    parser.add_argument("--robot", default="", help="robot preset (name or YAML) whose camera names, in slot "
                        "order, the checkpoint takes, so policy_node finds them (e.g. aloha)")
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument("--ema", dest="use_ema", action="store_const", const=True, default=None,
                         help="use net_ema. weights (default: net., as official inference loads)")
    weights.add_argument("--regular", dest="use_ema", action="store_const", const=False,
                         help="use the regular net. weights")
    parser.add_argument("--dtype", default="bfloat16", choices=sorted(LEVER_DTYPES), help="stored transformer dtype")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    cameras = tuple(c.name for c in load_preset(args.robot).cameras) if args.robot else ()
    try:
        config = get_preset(args.preset, layout=official_layout(args.layout, cameras))
        folder = convert_checkpoint(args.checkpoint, args.out_folder, config,
                                    DatasetStatistics.from_json(args.statistics), args.vae,
                                    use_ema=args.use_ema, dtype=DTYPES[args.dtype])
    except CheckpointError as err:
        logging.error("%s", err)
        return 1
    logging.info("wrote %s", folder)
    return 0
