# SPDX-License-Identifier: Apache-2.0
"""Training checkpoints for exact resume (no pickle: safetensors + ``torch.load(weights_only=True)``).

::

    <output_dir>/checkpoints/step_00000100/
      transformer.safetensors   trained weights (diffusers names)
      ema.safetensors           EMA shadow weights (when EMA is on)
      training_state.pt         optimizer, LR scheduler, step, RNG states (plain tensors/containers)
      train_config.yaml         the run's TrainConfig
      data.json                 fingerprint of the training data (what a resume must match)
      config.json, model.safetensors, dataset_statistics.json, text_embeddings.safetensors
                                the step as a ``from_pretrained`` folder (EMA weights when EMA
                                is on): eval and policy_node load any step like ``final/``
    <output_dir>/checkpoints/best -> step_...   the step with the best validation metric
    <output_dir>/checkpoints/best.json          its step, metric and value (never pruned)

The data position is the step: epoch and batch follow from it (the data order is a function of
the seed and the epoch), so a resumed run sees the same batches, roles and noise. A checkpoint
is written to a temporary folder and renamed, so a crash never leaves a half checkpoint.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from cosmos_policy_ros.data.training_set import INDEX_FILE

CHECKPOINTS_DIR = "checkpoints"
TRANSFORMER_FILE = "transformer.safetensors"
EMA_FILE = "ema.safetensors"
STATE_FILE = "training_state.pt"
CONFIG_FILE = "train_config.yaml"
DATA_FILE = "data.json"
BEST_LINK = "best"
BEST_FILE = "best.json"
PREFIX = "step_"
STEP_DIGITS = 8


@dataclass
class TrainingState:
    """What a checkpoint holds besides the config.

    Args:
        step: optimizer steps done.
        transformer: state dict of the trained network.
        ema: EMA shadow weights (empty when EMA is off).
        optimizer / scheduler: their state dicts.
        rng: named RNG states (``torch`` CPU, ``cuda`` when present).
    """

    step: int
    transformer: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor]
    optimizer: dict
    scheduler: dict
    rng: dict[str, torch.Tensor]


def checkpoint_dir(output_dir: str | Path, step: int) -> Path:
    return Path(output_dir) / CHECKPOINTS_DIR / f"{PREFIX}{step:0{STEP_DIGITS}d}"


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = Path(output_dir) / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir()
             if p.is_dir() and p.name.startswith(PREFIX) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def capture_rng() -> dict[str, torch.Tensor]:
    states = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state()
    return states


def restore_rng(states: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["cuda"])


def data_fingerprint(data_roots: Sequence[str | Path]) -> dict[str, str]:
    """{root: sha256 of its index.json}: a re-converted set under the same path differs."""
    return {str(root): hashlib.sha256((Path(root) / INDEX_FILE).read_bytes()).hexdigest()
            for root in data_roots}


def save_checkpoint(output_dir: str | Path, state: TrainingState, config_yaml: str, keep: int,
                    data: dict[str, str], write_model: Callable[[Path], None] | None = None) -> Path:
    """Write the checkpoint of ``state.step`` atomically; keep only the newest ``keep`` (and the best).

    Args:
        data: :func:`data_fingerprint` of the run's data.
        write_model: writes the step's ``from_pretrained`` files into the folder it is given.
    """
    final = checkpoint_dir(output_dir, state.step)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in state.transformer.items()},
              str(tmp / TRANSFORMER_FILE))
    if state.ema:
        save_file({k: v.detach().cpu().contiguous() for k, v in state.ema.items()}, str(tmp / EMA_FILE))
    torch.save({"step": state.step, "optimizer": state.optimizer, "scheduler": state.scheduler,
                "rng": state.rng},
               tmp / STATE_FILE)
    (tmp / CONFIG_FILE).write_text(config_yaml, encoding="utf-8")
    (tmp / DATA_FILE).write_text(json.dumps(data, indent=2), encoding="utf-8")
    if write_model is not None:
        write_model(tmp)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    best = best_checkpoint(output_dir)
    for old in list_checkpoints(output_dir)[:-keep]:
        if old != best:
            shutil.rmtree(old, ignore_errors=True)
    return final


def mark_best(output_dir: str | Path, folder: Path, metric: str, value: float) -> None:
    """Point ``checkpoints/best`` (a relative symlink) and ``best.json`` at ``folder``."""
    root = Path(output_dir) / CHECKPOINTS_DIR
    record = root / BEST_FILE
    tmp = record.with_suffix(".tmp")
    tmp.write_text(json.dumps({"step": int(folder.name[len(PREFIX):]), "folder": folder.name,
                               "metric": metric, "value": value}, indent=2), encoding="utf-8")
    tmp.replace(record)
    link_tmp = root / f".{BEST_LINK}.tmp"
    link_tmp.unlink(missing_ok=True)
    os.symlink(folder.name, link_tmp)
    link_tmp.replace(root / BEST_LINK)


def best_record(output_dir: str | Path) -> dict | None:
    """best.json's content (step, folder, metric, value), or None before the first validation."""
    record = Path(output_dir) / CHECKPOINTS_DIR / BEST_FILE
    return json.loads(record.read_text(encoding="utf-8")) if record.is_file() else None


def best_checkpoint(output_dir: str | Path) -> Path | None:
    """The checkpoint marked best by validation, or None."""
    record = best_record(output_dir)
    return Path(output_dir) / CHECKPOINTS_DIR / record["folder"] if record else None


def read_run_identity(folder: str | Path) -> tuple[str, dict[str, str]]:
    """(train_config.yaml text, data fingerprint) a checkpoint was written with ({} if older)."""
    folder = Path(folder)
    data = folder / DATA_FILE
    return ((folder / CONFIG_FILE).read_text(encoding="utf-8"),
            json.loads(data.read_text(encoding="utf-8")) if data.is_file() else {})


def load_checkpoint(folder: str | Path) -> TrainingState:
    """Read a checkpoint folder (tensors only; nothing pickled is executed)."""
    folder = Path(folder)
    if not (folder / STATE_FILE).is_file():
        raise FileNotFoundError(f"{folder} is not a training checkpoint (no {STATE_FILE})")
    data = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
    ema = load_file(str(folder / EMA_FILE)) if (folder / EMA_FILE).is_file() else {}
    return TrainingState(step=int(data["step"]), transformer=load_file(str(folder / TRANSFORMER_FILE)),
                         ema=ema,
                         optimizer=data["optimizer"], scheduler=data["scheduler"], rng=data["rng"])
