# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy eval --checkpoint DIR --data SET_OR_BAGS...``: open-loop replay of recorded episodes.

``--data`` is a converted training set, or episode bags (folders with a .mcap), which are converted
first into ``<out>/converted`` with the robot preset. Writes ``eval_report.json`` and ``eval.png``.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = "Replay recorded episodes through a policy offline: action error, value AUC, plots."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, type=Path,
                        help="from_pretrained folder (e.g. <run>/final)")
    parser.add_argument("--data", required=True, nargs="+", type=Path,
                        help="a converted training set, or episode bag folders (converted first)")
    parser.add_argument("--out", type=Path, default=Path("eval"), help="folder for the report and the plot")
    parser.add_argument("--split", default="all", choices=("train", "val", "all"), help="training-set split")
    parser.add_argument("--stride", type=int, default=1, help="evaluate every n-th step")
    parser.add_argument("--num-steps", type=int, default=0, help="denoiser evaluations (0 = model default)")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed")
    parser.add_argument("--robot", default="sim_arm", help="robot preset for converting bags")


def _training_set(args: argparse.Namespace, image_size: int) -> Path:
    from ..data.training_set import INDEX_FILE
    if len(args.data) == 1 and (args.data[0] / INDEX_FILE).is_file():
        return args.data[0]
    from ..data.converter import ConvertConfig, convert_bags
    from ..presets import load_preset
    from ..data.bag_reader import find_episode_bags
    bags = find_episode_bags(list(args.data))
    if not bags:
        raise SystemExit(f"cosmos-policy eval: {args.data} holds neither a training set nor bags")
    out = args.out / "converted"
    # every episode is evaluated, so nothing is held out
    config = ConvertConfig(image_size=image_size, val_fraction=0.0)
    report = convert_bags(bags, out, load_preset(args.robot), config)
    logging.getLogger(__name__).info("converted bags:\n%s", report.format())
    return out


def run(args: argparse.Namespace) -> int:
    from ..core.model import CosmosPolicy
    from ..data.dataset import EpisodeDataset
    from ..train.evaluation import PLOT_FILE, REPORT_FILE, evaluate, plot_report
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.stride < 1:
        raise SystemExit(f"cosmos-policy eval: --stride={args.stride} must be >= 1")
    model = CosmosPolicy.from_pretrained(args.checkpoint)
    root = _training_set(args, model.config.layout.image_height)
    dataset = EpisodeDataset(root, args.split, chunk_length=model.config.layout.chunk_length)
    if len(dataset) == 0:
        raise SystemExit(f"cosmos-policy eval: no samples in split {args.split!r} of {root}")
    report = evaluate(model, dataset, args.stride, args.num_steps or None, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    report.to_json(args.out / REPORT_FILE)
    plot_report(report, args.out / PLOT_FILE)
    print(f"samples {report.num_samples} episodes {report.num_episodes} action_mse {report.action_mse:.6g} "
          f"value_auc {report.value_auc:.4f}")
    print(f"report: {args.out / REPORT_FILE}, plot: {args.out / PLOT_FILE}")
    return 0
