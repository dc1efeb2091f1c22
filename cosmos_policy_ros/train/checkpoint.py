# SPDX-License-Identifier: Apache-2.0
"""Training checkpoints for exact resume (no pickle: safetensors + ``torch.load(weights_only=True)``).

::

    <output_dir>/checkpoints/step_00000100/
      transformer.safetensors   trained weights (diffusers names)
      ema.safetensors           EMA shadow weights (when EMA is on)
      training_state.pt         optimizer, LR scheduler, step, RNG states (plain tensors/containers)
      train_config.yaml         the run's TrainConfig

The data position is the step: epoch and batch follow from it (the data order is a function of
the seed and the epoch), so a resumed run sees the same batches, roles and noise. A checkpoint
is written to a temporary folder and renamed, so a crash never leaves a half checkpoint.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

CHECKPOINTS_DIR = "checkpoints"
TRANSFORMER_FILE = "transformer.safetensors"
EMA_FILE = "ema.safetensors"
STATE_FILE = "training_state.pt"
CONFIG_FILE = "train_config.yaml"
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


def save_checkpoint(output_dir: str | Path, state: TrainingState, config_yaml: str, keep: int) -> Path:
    """Write the checkpoint of ``state.step`` atomically; keep only the newest ``keep``."""
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
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in list_checkpoints(output_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


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
