# SPDX-License-Identifier: Apache-2.0
"""The training loop: runs as one process or under ``torchrun`` (DDP / FSDP).

Per optimizer step (global batch B over W ranks, B / W per rank)::

    epoch, batch = divmod(step, batches_per_epoch)      data position follows from the step
    indices  = DistributedSampler(seed, epoch)[batch]   same global batch for any W
    roles    = f(seed, epoch, index)                    demo -> policy, rollout -> WM / value
    images   -> augment (seeded per sample) -> VAE (or the latent cache) -> inject -> x0
    sigma, noise = f(seed, epoch, index)                per-sample generators
    loss = mean(per-sample loss); backward; clip 1.0; AdamW; LR schedule; EMA

Because everything random is a function of (seed, epoch, index), one process and W processes
follow the same loss trajectory, and a resumed run repeats the uninterrupted run exactly. Rank 0
writes metrics, plots, checkpoints and the final ``from_pretrained`` folder (EMA weights when
EMA is on) with the training set's ``dataset_statistics.json``.
"""
from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

import torch
import yaml
from torch.utils.data import ConcatDataset, DataLoader, DistributedSampler
from tqdm import tqdm

from cosmos_policy_ros.core import features
from cosmos_policy_ros.core.layout import Role
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.data.dataset import EpisodeDataset
from cosmos_policy_ros.train import checkpoint as ckpt
from cosmos_policy_ros.train import parallel
from cosmos_policy_ros.train.augment import augment_batch
from cosmos_policy_ros.train.config import RESUME_AUTO, RESUME_NEVER, TrainConfig
from cosmos_policy_ros.train.distributed import DistContext, init_distributed
from cosmos_policy_ros.train.latent_cache import LatentCache, fingerprint
from cosmos_policy_ros.train.metrics_log import PLOT_FILE, MetricsLog, plot_losses
from cosmos_policy_ros.train.mixture import (BASE_INDEX, MIXTURE_INDEX, SAMPLE_KIND, MixtureDataset, Purpose,
                                             draw_roles, sample_seed)
from cosmos_policy_ros.train.model_init import build_model, check_instructions, data_layout, run_statistics
from cosmos_policy_ros.train.objective import draw_sigma_and_noise
from cosmos_policy_ros.train.optim import WeightEMA, build_optimizer
from cosmos_policy_ros.train.validation import Validator

LOG = logging.getLogger(__name__)
FINAL_DIR = "final"
LATENT_CACHE_DIR = "latent_cache"
TRAINED_ROLES = (Role.POLICY, Role.WORLD_MODEL, Role.VALUE, Role.VALUE_FUTURE)
# Validation metrics that choose the best checkpoint, first present wins (lower is better): the
# sampled-action error is what deployment sees; the policy loss when no chunk was sampled.
BEST_METRICS = ("val_action_mse", "val_loss_policy")
# Fields a run may change and still continue an existing run's checkpoints (auto resume).
RESUMABLE_CHANGES = frozenset({"steps", "max_minutes", "resume", "log_every_steps", "val_every_steps",
                               "checkpoint_every_steps", "keep_checkpoints", "num_workers",
                               "latent_cache", "latent_cache_dir"})


class RunMismatch(ValueError):
    """output_dir holds checkpoints of a run with other data or settings."""


class Trainer:
    """One training run of ``config`` (construct on every rank, then ``run()``)."""

    def __init__(self, config: TrainConfig, ctx: DistContext | None = None) -> None:
        self.config = config
        self.ctx = ctx or init_distributed(config)
        roots = list(config.data_roots)
        self.statistics = run_statistics(config)
        self.mixture = MixtureDataset([EpisodeDataset(r, "train") for r in roots],
                                      config.demonstration_sampling_prob,
                                      config.success_rollout_sampling_prob,
                                      config.treat_demos_as_success_rollouts)
        self.batches_per_epoch = len(self.mixture) // config.global_batch_size
        if self.batches_per_epoch == 0:
            raise ValueError(f"train config global_batch_size={config.global_batch_size} exceeds the "
                             f"{len(self.mixture)} samples of one epoch")
        self.local_batch = config.global_batch_size // self.ctx.world_size
        self.model = build_model(config, data_layout(roots), self.statistics)
        instructions = {e["instruction"] for d in self.mixture.base.datasets for e in d.episodes}
        check_instructions(self.model, instructions,
                           config.text_embeddings)
        self.autocast = self._autocast_context()
        self.objective = parallel.wrap(self.model, config, self.ctx)
        self.optimizer, self.scheduler = build_optimizer(self.model.transformer.parameters(), config,
                                                         self.ctx.device)
        self.ema = WeightEMA(self.model.transformer, config.ema_decay) if config.ema_decay > 0 else None
        self.value_role = Role[config.value_role_name]
        self.log = MetricsLog(config.output_dir, enabled=self.ctx.is_main)
        val_sets = [d for d in (EpisodeDataset(r, "val") for r in roots) if len(d)]
        # latent-cache keys: training samples first (mixture base indices), then validation samples
        self.val_offset = len(self.mixture.base)
        self.cache = self._latent_cache(ConcatDataset([self.mixture.base, *val_sets]))
        self.validator = self._validator(val_sets)
        self.step = 0
        self.steps_total = config.steps  # lowered when max_minutes ends the run early
        self.data = ckpt.data_fingerprint(roots)
        self._resume()
        self.best = ckpt.best_record(config.output_dir) if self.step else None

    # ------------------------------------------------------------------ set-up
    def _autocast_context(self):
        precision = self.config.precision
        if precision == "bf16" and self.ctx.device.type != "cuda":
            raise ValueError("train config precision=bf16 needs CUDA (CPU training runs in fp32)")
        if self.ctx.device.type == "cuda" and precision in ("auto", "bf16"):
            return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext

    def _latent_cache(self, samples: ConcatDataset) -> LatentCache | None:
        mode = self.config.latent_cache
        if mode == "off":
            return None
        folder = Path(self.config.latent_cache_dir or Path(self.config.output_dir) / LATENT_CACHE_DIR)
        key = fingerprint(self.model, self.config.data_roots, len(samples)) if mode == "disk" else None
        cache = LatentCache(mode, self.model, samples, folder, key)
        if mode == "disk":
            cache.fill_disk(self.ctx.rank, self.ctx.world_size, self.ctx.barrier, self._progress)
        return cache

    def _validator(self, val_sets: list[EpisodeDataset]) -> Validator | None:
        if not val_sets:
            LOG.warning("no validation episodes in %s: validation is skipped", list(self.config.data_roots))
            return None
        roles = (Role.POLICY, Role.WORLD_MODEL, self.value_role)
        return Validator(self.model, ConcatDataset(val_sets), roles,
                         lambda indices, batch: self._encode(batch, [self.val_offset + i for i in indices]),
                         self.ctx, self.local_batch, self.config.val_max_samples,
                         self.config.val_action_samples,
                         self.config.val_num_steps, self.config.seed)

    def _progress(self, items=None, **kwargs) -> tqdm:
        return tqdm(items, disable=not self.ctx.is_main, **kwargs)

    def _resume(self) -> None:
        resume = self.config.resume
        if resume == RESUME_NEVER:
            return
        found = ckpt.list_checkpoints(self.config.output_dir)
        if resume == RESUME_AUTO and not found:
            return
        folder = found[-1] if resume == RESUME_AUTO else Path(resume)
        if resume == RESUME_AUTO:
            self._check_same_run(folder)
        state = ckpt.load_checkpoint(folder)
        parallel.load_states(self.model, self.optimizer, state.transformer, state.optimizer, folder)
        self.scheduler.load_state_dict(state.scheduler)
        if self.ema is not None:
            self.ema.load_state_dict(state.ema)
        ckpt.restore_rng(state.rng)
        self.step = state.step
        self.log.truncate_after(self.step)
        LOG.info("resumed from %s at step %d", folder, self.step)

    def _check_same_run(self, folder: Path) -> None:
        """Auto resume continues only the same run: same data, same settings (but RESUMABLE_CHANGES)."""
        config_yaml, data = ckpt.read_run_identity(folder)
        theirs, ours = yaml.safe_load(config_yaml), yaml.safe_load(self.config.to_yaml())
        changed = sorted(k for k in set(theirs) | set(ours)
                         if k not in RESUMABLE_CHANGES and theirs.get(k) != ours.get(k))
        if data != self.data:
            changed.append("training data (data_roots' index.json)")
        if changed:
            raise RunMismatch(
                f"{self.config.output_dir} holds checkpoints of another run ({folder.name}); it differs in: "
                f"{', '.join(changed)}. Use a new output_dir, or continue that run on purpose with "
                f"--resume (resume={folder}).")

    # ------------------------------------------------------------------ data
    def _loader(self, epoch: int, first_batch: int) -> DataLoader:
        sampler = DistributedSampler(self.mixture, num_replicas=self.ctx.world_size, rank=self.ctx.rank,
                                     shuffle=True, seed=self.config.seed, drop_last=True)
        sampler.set_epoch(epoch)
        indices, b = list(sampler), self.local_batch
        batches = [indices[i * b:(i + 1) * b] for i in range(first_batch, self.batches_per_epoch)]
        return DataLoader(self.mixture, batch_sampler=batches, num_workers=self.config.num_workers)

    def _encode(self, batch: dict, cache_keys: list[int], augment_epoch: int | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Batch -> (x0, condition latents, text embeddings) on the device.

        Args:
            cache_keys: latent-cache key per sample.
            augment_epoch: augment the images (seeded by epoch and mixture index) when given.
        """
        latents = None
        if self.config.augment and augment_epoch is not None:
            seeds = [sample_seed(self.config.seed, augment_epoch, int(i), Purpose.AUGMENT)
                     for i in batch[MIXTURE_INDEX]]
            batch = augment_batch(batch, seeds)
        elif self.cache is not None:
            latents = self.cache.latents(cache_keys, batch)
        x0, cond = self.model.encode_batch(batch, latents)
        text = self.model.embed_instructions(batch[features.INSTRUCTION])
        return x0.to(self.ctx.device), cond.to(self.ctx.device), text

    # ------------------------------------------------------------------ training
    def _train_step(self, batch: dict, epoch: int) -> torch.Tensor:
        """One optimizer step.

        Returns:
            (2 * len(Role) + 1,) float64: per role [loss sum, count] over this rank's samples, then
            the gradient norm divided by the world size (summed over ranks by the caller).
        """
        cfg, indices = self.config, batch[MIXTURE_INDEX].tolist()
        roles = draw_roles(batch[SAMPLE_KIND].tolist(), indices, epoch, cfg.seed, cfg.world_model_prob,
                           self.value_role)
        x0, cond, text = self._encode(batch, batch[BASE_INDEX].tolist(), epoch)
        sigma, noise = draw_sigma_and_noise(self.model, [sample_seed(cfg.seed, epoch, i, Purpose.NOISE)
                                                         for i in indices], x0.shape[1:])
        with self.autocast():
            per_sample = self.objective(x0, cond, roles, text, sigma, noise)
        self.optimizer.zero_grad(set_to_none=True)
        per_sample.mean().backward()
        grad_norm = parallel.clip_gradients(self.model, cfg.grad_clip_norm)
        self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model.transformer)
        stats = torch.zeros(2 * len(Role) + 1, dtype=torch.float64)
        for role in Role:
            chosen = roles == int(role)
            stats[2 * role] = per_sample.detach()[chosen.to(per_sample.device)].double().sum().cpu()
            stats[2 * role + 1] = chosen.sum()
        stats[-1] = float(grad_norm) / self.ctx.world_size  # identical on every rank after the all-reduce
        return stats

    def _train_record(self, totals: torch.Tensor, epoch: int, step_time_s: float) -> dict:
        count = float(totals[1:2 * len(Role):2].sum())
        record = {"kind": "train", "step": self.step, "epoch": epoch, "lr": self.scheduler.get_last_lr()[0],
                  "loss": float(totals[0:2 * len(Role):2].sum()) / count, "grad_norm": float(totals[-1]),
                  "step_time_s": step_time_s}
        for role in TRAINED_ROLES:
            if totals[2 * role + 1] > 0:
                record[f"loss_{role.name.lower()}"] = float(totals[2 * role] / totals[2 * role + 1])
        return record

    def run(self) -> Path:
        """Train to ``config.steps`` (or ``max_minutes``); returns the final ``from_pretrained`` folder."""
        cfg = self.config
        started = time.monotonic()
        bar = self._progress(total=cfg.steps, initial=self.step, desc="train", unit="step")
        while self.step < self.steps_total:
            epoch, first = divmod(self.step, self.batches_per_epoch)
            for batch in self._loader(epoch, first):
                start = time.perf_counter()
                totals = self.ctx.sum(self._train_step(batch, epoch))
                self.step += 1
                record = self._train_record(totals, epoch, time.perf_counter() - start)
                bar.update(1)
                bar.set_postfix({k[5:] or "loss": f"{v:.4f}" for k, v in record.items()
                                 if k.startswith("loss")})
                logged = self.step % cfg.log_every_steps == 0
                if logged and self._out_of_time(started):
                    LOG.info("max_minutes=%g reached at step %d of %d: ending the run there",
                             cfg.max_minutes, self.step, cfg.steps)
                    self.steps_total = self.step
                if logged or self.step == self.steps_total:
                    self.log.write(record)
                self._periodic()
                if self.step >= self.steps_total:
                    break
        bar.close()
        return self.export()

    def _out_of_time(self, started: float) -> bool:
        """Rank 0's clock decides, so every rank stops at the same step."""
        if not self.config.max_minutes:
            return False
        late = float(self.ctx.is_main and time.monotonic() - started > 60.0 * self.config.max_minutes)
        return bool(self.ctx.sum(torch.tensor([late], dtype=torch.float64))[0] > 0)

    def _periodic(self) -> None:
        cfg = self.config
        at_end = self.step == self.steps_total
        val_due = bool(cfg.val_every_steps) and self.step % cfg.val_every_steps == 0
        best = None
        if self.validator is not None and (val_due or at_end):
            record = {"kind": "val", "step": self.step, **self.validator.run()}
            self.log.write(record)
            best = self._new_best(record)
            if self.ctx.is_main:
                shown = ", ".join(f"{k} {v:.5g}" for k, v in record.items() if k.startswith("val_"))
                LOG.info("validation at step %d: %s%s", self.step, shown, " (best so far)" if best else "")
                plot_losses(self.log.path, Path(cfg.output_dir) / PLOT_FILE)
        if self.step % cfg.checkpoint_every_steps == 0 or at_end or best:
            folder = self.save_checkpoint()
            if best:  # every rank keeps the best (the next decision is collective); rank 0 marks it
                self.best = best
                if folder is not None:
                    ckpt.mark_best(cfg.output_dir, folder, best["metric"], best["value"])

    def _new_best(self, record: dict) -> dict | None:
        """{"metric", "value"} when ``record`` beats the best validation so far, else None."""
        metric = next((m for m in BEST_METRICS if m in record), None)
        if metric is None:
            return None
        if self.best and self.best["metric"] == metric and not record[metric] < self.best["value"]:
            return None
        return {"step": self.step, "metric": metric, "value": record[metric]}

    # ------------------------------------------------------------------ outputs
    def save_checkpoint(self) -> Path | None:
        """Rank 0 writes (FSDP: every rank its shards first); returns the folder on rank 0."""
        sharded = parallel.is_fsdp(self.model)
        if sharded:
            parallel.save_sharded(self.model, self.optimizer, ckpt.checkpoint_dir(self.config.output_dir, self.step))
        full = {} if sharded else parallel.transformer_state(self.model)
        weights = self._exported_weights(full)  # every rank: a collective under FSDP
        state = ckpt.TrainingState(step=self.step, transformer=full,
                                   ema=self.ema.state_dict() if self.ema else {},
                                   optimizer=parallel.optimizer_state(self.model, self.optimizer),
                                   scheduler=self.scheduler.state_dict(), rng=ckpt.capture_rng())
        folder = None
        if self.ctx.is_main:
            folder = ckpt.save_checkpoint(self.config.output_dir, state, self.config.to_yaml(),
                                          self.config.keep_checkpoints, self.data,
                                          lambda tmp: self._write_pretrained(tmp, weights))
            parallel.prune_sharded(ckpt.list_checkpoints(self.config.output_dir))
        self.ctx.barrier()
        return folder

    def _exported_weights(self, full: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """What a ``from_pretrained`` folder holds: the EMA weights when EMA is on, else the model's
        full state (``full`` when already gathered; gathered here otherwise, on every rank)."""
        if self.ema is not None:
            return self.ema.state_dict()
        return full or parallel.transformer_state(self.model)

    def _write_pretrained(self, folder: Path, weights: dict[str, torch.Tensor]) -> None:
        """A ``from_pretrained`` folder with ``weights`` as the transformer (rank 0)."""
        exported = CosmosPolicy(self.model.config, self.statistics, self.model.text_cache)
        exported.transformer.load_state_dict(weights, strict=True)
        exported.vae.load_state_dict(self.model.vae.state_dict(), strict=True)
        exported.save_pretrained(folder)

    def export(self) -> Path:
        """Write ``<output_dir>/final`` (EMA weights when EMA is on) on rank 0; returns its path."""
        weights = self._exported_weights({})
        folder = Path(self.config.output_dir) / FINAL_DIR
        if self.ctx.is_main:
            self._write_pretrained(folder, weights)
            if self.log.path.is_file():
                plot_losses(self.log.path, Path(self.config.output_dir) / PLOT_FILE)
            if self.best:
                LOG.info("best validation: step %d (%s %.5g): %s", self.best["step"], self.best["metric"],
                         self.best["value"], ckpt.best_checkpoint(self.config.output_dir))
        self.ctx.barrier()
        return folder
