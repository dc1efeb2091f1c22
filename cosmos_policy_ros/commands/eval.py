# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy eval --checkpoint DIR --data SET_OR_BAGS...``: open-loop replay of recorded episodes.

``--checkpoint`` is any ``from_pretrained`` folder: a run's ``final/``, one of its
``checkpoints/step_...`` or ``checkpoints/best``, or the run folder itself (its ``final/``).
``--data`` is a converted training set, or episode bags (folders with a .mcap), which are converted
first into ``<out>/converted`` with the robot preset. Writes ``eval_report.json`` and ``eval.png``
into ``--out``, by default a new folder ``eval/<run>-<checkpoint>`` (never an earlier result).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = "Replay recorded episodes through a policy offline: action error, value AUC, plots."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, type=Path,
                        help="from_pretrained folder: <run>/final, <run>/checkpoints/step_N or "
                             "<run>/checkpoints/best, or <run> (its final/)")
    parser.add_argument("--data", required=True, nargs="+", type=Path,
                        help="a converted training set, or episode bag folders (converted first)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the report and the plot (default: a new eval/<run>-<checkpoint>)")
    parser.add_argument("--overwrite", action="store_true", help="replace a report already in --out")
    parser.add_argument("--split", default="all", choices=("train", "val", "all"), help="training-set split")
    parser.add_argument("--stride", type=int, default=1, help="evaluate every n-th step")
    parser.add_argument("--num-steps", type=int, default=0, help="denoiser evaluations (0 = model default)")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed")
    parser.add_argument("--robot", default="sim_arm", help="robot preset for converting bags")


def _training_set(args: argparse.Namespace, image_size: int) -> Path:
    from cosmos_policy_ros.data.training_set import INDEX_FILE
    if len(args.data) == 1 and (args.data[0] / INDEX_FILE).is_file():
        return args.data[0]
    from cosmos_policy_ros.data.converter import ConvertConfig, convert_bags
    from cosmos_policy_ros.presets import load_preset
    from cosmos_policy_ros.data.bag_reader import find_episode_bags
    bags = find_episode_bags(list(args.data))
    if not bags:
        raise SystemExit(f"cosmos-policy eval: {args.data} holds neither a training set nor bags")
    out = args.out / "converted"
    # every episode is evaluated, so nothing is held out
    config = ConvertConfig(image_size=image_size, val_fraction=0.0)
    report = convert_bags(bags, out, load_preset(args.robot), config)
    logging.getLogger(__name__).info("converted bags:\n%s", report.format())
    if not report.written:
        raise SystemExit(f"cosmos-policy eval: no episode of {args.data} converted:\n{report.format()}")
    return out


def resolve_checkpoint(path: Path) -> Path:
    """The from_pretrained folder ``path`` names (a run folder means its final/)."""
    from cosmos_policy_ros.core.pretrained import CONFIG_FILE
    from cosmos_policy_ros.train.trainer import FINAL_DIR
    if (path / CONFIG_FILE).is_file():
        return path
    if (path / FINAL_DIR / CONFIG_FILE).is_file():
        return path / FINAL_DIR
    raise SystemExit(f"cosmos-policy eval: {path} is not a model folder (no {CONFIG_FILE}); give a run's "
                     f"final/, checkpoints/step_N or checkpoints/best (checkpoints written before "
                     "step folders held a model cannot be evaluated)")


def output_folder(args: argparse.Namespace, checkpoint: Path) -> Path:
    """--out as given (refused when it holds a report, unless --overwrite), else a new folder."""
    from cosmos_policy_ros.train.evaluation import REPORT_FILE
    if args.out is not None:
        if (args.out / REPORT_FILE).exists() and not args.overwrite:
            raise SystemExit(f"cosmos-policy eval: {args.out} already holds a report (add --overwrite, "
                             "or leave --out out for a new folder)")
        return args.out
    resolved = checkpoint.resolve()
    run_dir = resolved.parent.parent if resolved.parent.name == "checkpoints" else resolved.parent
    base = Path("eval") / f"{run_dir.name}-{resolved.name}"
    out, number = base, 1
    while out.exists():
        number += 1
        out = base.with_name(f"{base.name}-{number}")
    return out


def run(args: argparse.Namespace) -> int:
    from cosmos_policy_ros.core.model import CosmosPolicy
    from cosmos_policy_ros.data.dataset import EpisodeDataset
    from cosmos_policy_ros.train.evaluation import PLOT_FILE, REPORT_FILE, evaluate, plot_report
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.stride < 1:
        raise SystemExit(f"cosmos-policy eval: --stride={args.stride} must be >= 1")
    checkpoint = resolve_checkpoint(args.checkpoint)
    args.out = output_folder(args, checkpoint)
    model = CosmosPolicy.from_pretrained(checkpoint)
    root = _training_set(args, model.config.layout.image_height)
    dataset = EpisodeDataset(root, args.split, chunk_length=model.config.layout.chunk_length)
    if len(dataset) == 0:
        raise SystemExit(f"cosmos-policy eval: no samples in split {args.split!r} of {root}")
    report = evaluate(model, dataset, args.stride, args.num_steps or None, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    report.to_json(args.out / REPORT_FILE)
    plot_report(report, args.out / PLOT_FILE)
    print(f"checkpoint: {checkpoint}")
    print(report.summary())
    print(f"report: {args.out / REPORT_FILE}, plot: {args.out / PLOT_FILE}")
    return 0
