# SPDX-License-Identifier: Apache-2.0
"""Which sample indices each rank trains on: a torchrun entry for the trainer test.

``python rank_probe.py LOG_DIR --config ...`` records every batch the trainer's DataLoader yields
on this rank (one JSON list per line in ``LOG_DIR/rank<RANK>.jsonl``), then runs
``cosmos-policy train`` unchanged. :func:`logging_loader` does the same in-process.
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from cosmos_policy_ros.train import trainer


class _LoggedBatches:
    """A batch sampler (list of index lists) that appends each batch to a file as it is used."""

    def __init__(self, batches: Sequence[Sequence[int]], path: Path) -> None:
        self._batches, self._path = batches, path

    def __len__(self) -> int:
        return len(self._batches)

    def __iter__(self) -> Iterator[Sequence[int]]:
        for batch in self._batches:
            with open(self._path, "a", encoding="utf-8") as f:
                f.write(json.dumps([int(i) for i in batch]) + "\n")
            yield batch


def logging_loader(log_dir: Path, rank: int):
    """A stand-in for the trainer's ``DataLoader`` that logs its batches to ``log_dir/rank<rank>.jsonl``."""
    real_loader = trainer.DataLoader
    path = Path(log_dir) / f"rank{rank}.jsonl"

    def loader(dataset, batch_sampler, **kwargs):
        return real_loader(dataset, batch_sampler=_LoggedBatches(batch_sampler, path), **kwargs)

    return loader


def read_batches(log_dir: Path, rank: int) -> list[list[int]]:
    """The batches ``rank`` logged, in order ([] when it never trained)."""
    path = Path(log_dir) / f"rank{rank}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


if __name__ == "__main__":
    from cosmos_policy_ros.commands.train import main

    trainer.DataLoader = logging_loader(Path(sys.argv[1]), int(os.environ["RANK"]))
    sys.exit(main(sys.argv[2:]))
