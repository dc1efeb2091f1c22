# SPDX-License-Identifier: Apache-2.0
"""Training configuration (``cosmos-policy train --config cfg.yaml``), kept apart from the model config.

Defaults are the official resolved recipe (spec 4.1-4.4) where it applies to any robot:
AdamW (1e-4, betas 0.9/0.99, eps 1e-8, weight decay 0.1), warm-up from 1e-6x, linear decay to
0.3x, then a constant 0.06x, grad-norm clip 1.0, EMA off, 50 % demos / 50 % rollouts, bf16 on GPU.
YAML files hold a flat mapping of these fields; ``--set field=value`` overrides single fields
(the value is parsed as YAML). Unknown fields get a close-match hint.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cosmos_policy_ros.config_checks import check_field, reject_unknown_fields

# Training mode -> the value role rollout samples train (spec 2.3, 4.5): a policy run V(s, a, s');
# the planning fine-tune V(s') (``mask_current_state_action_for_value_prediction``); its Q(s, a)
# variant (``mask_future_state_for_qvalue_prediction``: future state masked, no released config).
VALUE_ROLE_BY_MODE = {"policy": "VALUE", "planning": "VALUE_FUTURE", "planning_q": "Q_VALUE"}
MODES = tuple(VALUE_ROLE_BY_MODE)
PRECISIONS = ("auto", "fp32", "bf16")
PARALLEL = ("ddp", "fsdp")
LATENT_CACHES = ("off", "memory", "disk")
STATISTICS_SOURCES = ("data", "init")
RESUME_AUTO, RESUME_NEVER = "auto", "never"


_check = functools.partial(check_field, "train config")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs besides the model config.

    Args:
        data_roots: converted training sets (``cosmos-policy convert`` outputs); several are merged.
        output_dir: checkpoints, metrics.jsonl, loss plot and the final ``from_pretrained`` folder.
        model_preset: model size preset for a fresh model (``tiny``, ``demo-small``, ``cosmos-predict2-2b``).
        init_checkpoint: ``from_pretrained`` folder to start from (e.g. a converted official
            checkpoint); its weights are loaded and checked, the preset is then ignored. The robot
            layout (cameras, dims, chunk, image size) always comes from the training set.
        statistics_from: normalization statistics of the run: ``data`` (the training sets') or
            ``init`` (``init_checkpoint``'s: a fine-tune, such as the planning fine-tune of a
            deployed policy, keeps the units its weights were trained in; new data only slightly
            outside those ranges would otherwise move every normalized action and proprio).
        text_embeddings: extra text-embedding cache file (safetensors) for T5 models.
        mode: ``policy`` (value role = V(s, a, s')), ``planning`` (V(s'), spec 4.5) or
            ``planning_q`` (Q(s, a): the planning fine-tune with the future state masked).
        demonstration_sampling_prob: share of demo samples (policy role) per epoch (0.5; planning 0.1).
        success_rollout_sampling_prob: share of successful rollouts among rollout samples.
        treat_demos_as_success_rollouts: demos double as successful rollouts (official ALOHA run).
        world_model_prob: probability a rollout sample trains the world model (else the value).
        learning_rate / betas / adam_eps / weight_decay: AdamW.
        warmup_steps / warmup_start_factor: linear warm-up of the LR factor from the start factor to 1.
        decay_steps / decay_min_factor / final_factor: linear decay 1 -> min factor until decay_steps,
            then the constant final factor (upstream LambdaLinearScheduler).
        grad_clip_norm: global gradient-norm clip.
        ema_decay: EMA of the weights (0 = off, the official setting); the final folder holds the
            EMA weights when on.
        global_batch_size: samples per optimizer step over all processes.
        steps: optimizer steps.
        max_minutes: stop early once this much wall time has passed since the run (re)started
            (0 = no limit), checked every ``log_every_steps``; the run ends as at ``steps``
            (validation, checkpoint, final folder). For jobs with a wall-clock limit.
        seed: seeds data order, roles, noise and augmentation (same on every rank).
        precision: ``auto`` (bf16 autocast on CUDA, fp32 on CPU), ``fp32``, ``bf16`` (CUDA only).
        parallel: ``ddp`` or ``fsdp`` (shards the transformer per block; for the 2B model; CUDA or
            CPU/gloo).
        activation_checkpointing: recompute each transformer block's activations in the backward
            pass (less memory, about a third more compute; for the 2B model's larger batches).
        num_workers: DataLoader worker processes per rank.
        checkpoint_every_steps / keep_checkpoints: checkpoint period and how many to keep.
        resume: ``auto`` (latest checkpoint in output_dir if any), ``never``, or a checkpoint folder.
        log_every_steps: period of the training-loss records.
        val_every_steps: period of validation (0 = only at the end).
        val_max_samples: validation samples for the per-role loss.
        val_action_samples: validation samples whose action chunk is sampled and compared.
        val_num_steps: denoiser evaluations for the sampled actions (0 = model default).
        latent_cache: VAE latents of each sample computed once (``memory`` or ``disk``); the VAE is
            frozen so this is exact, but it needs ``augment: false`` (augmented pixels differ per draw).
        latent_cache_dir: folder of the disk cache (default ``<output_dir>/latent_cache``); runs
            on the same sets with the same VAE can share it.
        augment: spec 4.3 image augmentation (crop 0.9 area, rotation, colour jitter).
        device: ``auto`` (CUDA rank-local device when available, else CPU), ``cpu`` or ``cuda``.
    """

    # Data and model
    data_roots: tuple[str, ...] = ()
    output_dir: str = "runs/train"
    model_preset: str = "tiny"
    init_checkpoint: str = ""
    statistics_from: str = "data"
    text_embeddings: str = ""
    # Role mixture
    mode: str = "policy"
    demonstration_sampling_prob: float = 0.5
    success_rollout_sampling_prob: float = 0.5
    treat_demos_as_success_rollouts: bool = False
    world_model_prob: float = 0.5
    # Optimization
    learning_rate: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)
    adam_eps: float = 1e-8
    weight_decay: float = 0.1
    warmup_steps: int = 1000
    warmup_start_factor: float = 1e-6
    decay_steps: int = 30000
    decay_min_factor: float = 0.3
    final_factor: float = 0.06
    grad_clip_norm: float = 1.0
    ema_decay: float = 0.0
    global_batch_size: int = 8
    steps: int = 1000
    max_minutes: float = 0.0
    seed: int = 0
    precision: str = "auto"
    parallel: str = "ddp"
    activation_checkpointing: bool = False
    num_workers: int = 0
    # Checkpoints, logs, validation
    checkpoint_every_steps: int = 500
    keep_checkpoints: int = 3
    resume: str = RESUME_AUTO
    log_every_steps: int = 10
    val_every_steps: int = 250
    val_max_samples: int = 64
    val_action_samples: int = 8
    val_num_steps: int = 0
    # Speed
    latent_cache: str = "off"
    latent_cache_dir: str = ""
    augment: bool = True
    device: str = "auto"

    def __post_init__(self) -> None:
        _check(len(self.data_roots) >= 1, "data_roots", self.data_roots, "needs at least one training set")
        _check(self.mode in MODES, "mode", self.mode, f"must be one of {MODES}")
        for name in ("demonstration_sampling_prob", "success_rollout_sampling_prob", "world_model_prob"):
            _check(0.0 <= getattr(self, name) <= 1.0, name, getattr(self, name), "must be in [0, 1]")
        _check(self.learning_rate > 0, "learning_rate", self.learning_rate, "must be > 0")
        _check(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "betas", self.betas,
               "must be two numbers in [0, 1)")
        _check(self.adam_eps > 0 and self.weight_decay >= 0, "adam_eps/weight_decay",
               (self.adam_eps, self.weight_decay), "must be > 0 / >= 0")
        _check(self.warmup_steps >= 0 and 0 < self.warmup_start_factor <= 1,
               "warmup_steps/warmup_start_factor",
               (self.warmup_steps, self.warmup_start_factor), "must be >= 0 / in (0, 1]")
        _check(self.decay_steps >= self.warmup_steps, "decay_steps", self.decay_steps,
               f"must be >= warmup_steps={self.warmup_steps}")
        for name in ("decay_min_factor", "final_factor"):
            _check(0 < getattr(self, name) <= 1, name, getattr(self, name), "must be in (0, 1]")
        _check(self.grad_clip_norm > 0, "grad_clip_norm", self.grad_clip_norm, "must be > 0")
        _check(0 <= self.ema_decay < 1, "ema_decay", self.ema_decay, "must be in [0, 1) (0 = off)")
        for name in ("global_batch_size", "steps", "checkpoint_every_steps", "keep_checkpoints",
                     "log_every_steps"):
            _check(getattr(self, name) >= 1, name, getattr(self, name), "must be >= 1")
        _check(self.max_minutes >= 0, "max_minutes", self.max_minutes, "must be >= 0 (0 = no limit)")
        for name in ("num_workers", "val_every_steps", "val_max_samples", "val_action_samples",
                     "val_num_steps"):
            _check(getattr(self, name) >= 0, name, getattr(self, name), "must be >= 0")
        _check(self.precision in PRECISIONS, "precision", self.precision, f"must be one of {PRECISIONS}")
        _check(self.parallel in PARALLEL, "parallel", self.parallel, f"must be one of {PARALLEL}")
        _check(self.statistics_from in STATISTICS_SOURCES, "statistics_from", self.statistics_from,
               f"must be one of {STATISTICS_SOURCES}")
        _check(self.statistics_from == "data" or bool(self.init_checkpoint), "statistics_from",
               self.statistics_from, "needs init_checkpoint (whose statistics it keeps)")
        _check(self.latent_cache in LATENT_CACHES, "latent_cache", self.latent_cache,
               f"must be one of {LATENT_CACHES}")
        _check(not (self.augment and self.latent_cache != "off"), "latent_cache", self.latent_cache,
               "needs augment: false (augmented images give new latents at every draw)")
        _check(self.device in ("auto", "cpu", "cuda"), "device", self.device, "must be auto, cpu or cuda")

    @property
    def value_role_name(self) -> str:
        """Which value role rollout samples train (spec 2.3, 4.5)."""
        return VALUE_ROLE_BY_MODE[self.mode]

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["data_roots"], data["betas"] = list(self.data_roots), list(self.betas)
        return data

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        reject_unknown_fields("train config", data, cls)
        values = dict(data)
        if isinstance(values.get("data_roots"), str):
            values["data_roots"] = [values["data_roots"]]
        for name in ("data_roots", "betas"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | None = None) -> "TrainConfig":
        """Load a YAML file (flat mapping) and apply ``field=value`` overrides."""
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a train config must be a mapping of fields, got {type(data).__name__}")
        return cls.from_dict(apply_overrides(data, overrides or []))


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``["steps=100", "betas=[0.9, 0.95]"]`` -> updated copy of ``data`` (values parsed as YAML)."""
    out = dict(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {item!r} must look like field=value")
        out[key.strip()] = yaml.safe_load(raw)
    return out
