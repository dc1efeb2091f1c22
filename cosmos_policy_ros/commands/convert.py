# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy convert <bags...> <out>``: episode bags -> training set (see data/training_set.py)."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

HELP = "Convert recorded bags into a training set (aligned samples, value targets, stats)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cosmos_policy_ros.data.converter import ConvertConfig
    defaults = ConvertConfig()
    parser.add_argument("paths", nargs="+", type=Path,
                        help="episode bag folders (or folders of them), then the output folder")
    parser.add_argument("--robot", default="sim_arm", help="robot preset name or YAML path")
    parser.add_argument("--image-size", type=int, default=defaults.image_size,
                        help="square side of stored images [px]; default: the preset's model image size, "
                             "the image policy_node feeds the model (policy_node refuses a checkpoint "
                             "of another size than its preset's)")
    parser.add_argument("--gamma", type=float, default=defaults.gamma, help="value-target discount")
    parser.add_argument("--max-skew-s", type=float, default=defaults.max_skew_s,
                        help="largest accepted sample age at a control tick [s]")
    parser.add_argument("--val-fraction", type=float, default=defaults.val_fraction,
                        help="share of episodes held out for validation")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of the split")
    parser.add_argument("--unknown-outcome", choices=("skip", "failure"), default=defaults.unknown_outcome,
                        help="what to do with episodes that have no outcome")
    parser.add_argument("--max-gap-s", type=float, default=defaults.max_gap_s,
                        help="longest interval between kept steps that is not reported as a gap [s]")
    parser.add_argument("--on-gap", choices=("keep", "skip"), default=defaults.on_gap,
                        help="keep episodes with gaps whole, or skip them")
    parser.add_argument("--lerobot", type=Path, default=None, metavar="DIR",
                        help="also export the converted set as a LeRobot v3.0 dataset into DIR")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing LeRobot dataset in the --lerobot folder")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from cosmos_policy_ros.data.bag_reader import find_episode_bags
    from cosmos_policy_ros.data.converter import ConvertConfig, convert_bags
    from cosmos_policy_ros.presets import load_preset
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if len(args.paths) < 2:
        raise SystemExit("cosmos-policy convert: give at least one bag and the output folder")
    *inputs, out = args.paths
    bags = find_episode_bags(inputs)
    if not bags:
        raise SystemExit(f"cosmos-policy convert: no bags (folders with a .mcap file) in {inputs}")
    lerobot_taken = args.lerobot is not None and args.lerobot.exists() and (
        not args.lerobot.is_dir() or any(args.lerobot.iterdir()))
    if lerobot_taken and not args.overwrite:
        raise SystemExit(f"cosmos-policy convert: {args.lerobot} exists and is not empty; nothing was "
                         "written (choose another --lerobot folder or add --overwrite)")
    config = ConvertConfig(image_size=args.image_size, gamma=args.gamma, max_skew_s=args.max_skew_s,
                           val_fraction=args.val_fraction, seed=args.seed,
                           unknown_outcome=args.unknown_outcome, max_gap_s=args.max_gap_s,
                           on_gap=args.on_gap)
    preset = load_preset(args.robot)
    report = convert_bags(bags, out, preset, config,
                          progress=lambda items: tqdm(items, desc="convert", unit="episode"))
    print(report.format())
    if not report.written:
        print(f"cosmos-policy convert: no episode converted (reasons above); {out} left as it was",
              file=sys.stderr)
        return 1
    print(f"training set written to {out}")
    if args.lerobot is not None:
        from cosmos_policy_ros.data.lerobot_export import export_lerobot
        info = export_lerobot(out, args.lerobot, preset=preset, overwrite=args.overwrite)
        print(f"LeRobot v3.0 dataset written to {args.lerobot} ({info['total_episodes']} episodes, "
              f"{info['total_frames']} frames at {info['fps']} fps)")
    return 0
