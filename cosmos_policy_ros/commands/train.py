# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy train --config cfg.yaml [--set field=value ...]``: train or fine-tune a model.

One process (CPU or one GPU)::

    cosmos-policy train --config config/train/tiny.yaml --set data_roots=[data/set] --set steps=100

Several processes (rank and world size from torchrun; gloo on CPU, nccl on GPU)::

    torchrun --nproc_per_node=2 -m cosmos_policy_ros.commands.train --config cfg.yaml
    torchrun --nproc_per_node=2 --no-python cosmos-policy train --config cfg.yaml
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

HELP = "Train or fine-tune a Cosmos Policy model (run under torchrun for several processes)."
EPILOG = ("Several processes: "
          "`torchrun --nproc_per_node=N -m cosmos_policy_ros.commands.train --config cfg.yaml` "
          "or `torchrun --nproc_per_node=N --no-python cosmos-policy train --config cfg.yaml`. "
          "Fields and defaults: --print-config, and cosmos_policy_ros/train/config.py.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("--config", required=True,
                        help="YAML file of TrainConfig fields (config/train/*.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                        help="override one field (value parsed as YAML), e.g. --set steps=100; repeatable")
    parser.add_argument("--resume", nargs="?", const="latest", default=None, metavar="CHECKPOINT",
                        help="continue the run in output_dir on purpose, even with other data or "
                             "settings: its latest checkpoint, or the CHECKPOINT folder given "
                             "(without it, a run continues only its own checkpoints)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")


def run(args: argparse.Namespace) -> int:
    from cosmos_policy_ros.train.checkpoint import list_checkpoints
    from cosmos_policy_ros.train.config import TrainConfig
    config = TrainConfig.from_yaml(args.config, args.overrides)
    if args.resume:
        found = list_checkpoints(config.output_dir)
        if args.resume == "latest" and not found:
            raise SystemExit(f"cosmos-policy train: --resume: no checkpoint in {config.output_dir}")
        resume = str(found[-1]) if args.resume == "latest" else args.resume
        config = TrainConfig.from_yaml(args.config, [*args.overrides, f"resume={resume}"])
    if args.print_config:
        print(config.to_yaml(), end="")
        return 0
    from cosmos_policy_ros.train.distributed import shutdown_distributed
    from cosmos_policy_ros.train.trainer import RunMismatch, Trainer
    rank = int(os.environ.get("RANK", "0"))  # torchrun: only rank 0 logs progress
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format=f"%(levelname)s [rank {rank}] %(name)s: %(message)s")
    try:
        folder = Trainer(config).run()
    except RunMismatch as err:
        print(f"cosmos-policy train: {err}", file=sys.stderr)
        return 2
    finally:
        shutdown_distributed()
    logging.getLogger(__name__).info("final model: %s", folder)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python -m`` / torchrun ``-m``."""
    parser = argparse.ArgumentParser(prog="cosmos-policy train", description=HELP)
    add_arguments(parser)
    return run(parser.parse_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
