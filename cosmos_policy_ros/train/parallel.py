# SPDX-License-Identifier: Apache-2.0
"""Data parallelism: DDP around the objective, or FSDP around the transformer (2B on GPUs).

DDP keeps a full replica per rank and averages gradients. FSDP (GPU only) shards the transformer
per block (``use_orig_params`` so the frozen VAE and the optimizer see ordinary parameters);
checkpoints gather a full state dict on every rank's call and rank 0 writes it, so a checkpoint
loads into any world size and into ``from_pretrained``. EMA with FSDP is not supported (the
official recipe runs without EMA).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..core.model import CosmosPolicy
from .config import TrainConfig
from .distributed import DistContext
from .objective import TrainingObjective


def _fsdp():
    from torch.distributed.fsdp import FullyShardedDataParallel
    return FullyShardedDataParallel


def wrap(model: CosmosPolicy, config: TrainConfig, ctx: DistContext) -> nn.Module:
    """The module to call for the per-sample loss: the objective, wrapped for the run."""
    model.to(ctx.device)
    if config.parallel == "fsdp":
        if config.ema_decay > 0:
            raise ValueError("train config ema_decay > 0 is not supported with parallel=fsdp")
        from torch.distributed.fsdp.wrap import ModuleWrapPolicy
        block = type(model.transformer.transformer_blocks[0])
        model.transformer = _fsdp()(model.transformer, auto_wrap_policy=ModuleWrapPolicy({block}),
                                    use_orig_params=True, device_id=ctx.device)
        return TrainingObjective(model)
    objective = TrainingObjective(model)
    if not ctx.distributed:
        return objective
    device_ids = [ctx.local_rank] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(objective, device_ids=device_ids)


def is_fsdp(model: CosmosPolicy) -> bool:
    return type(model.transformer).__name__ == "FullyShardedDataParallel"


@contextmanager
def full_state(model: CosmosPolicy) -> Iterator[None]:
    """Inside: FSDP state dicts are full (gathered, on CPU); a no-op for plain modules."""
    if not is_fsdp(model):
        yield
        return
    from torch.distributed.fsdp import FullOptimStateDictConfig, FullStateDictConfig, StateDictType
    with _fsdp().state_dict_type(model.transformer, StateDictType.FULL_STATE_DICT,
                                 FullStateDictConfig(offload_to_cpu=True, rank0_only=False),
                                 FullOptimStateDictConfig(offload_to_cpu=True, rank0_only=False)):
        yield


def transformer_state(model: CosmosPolicy) -> dict[str, torch.Tensor]:
    """Full transformer state dict on CPU (every rank must call it under FSDP)."""
    with full_state(model):
        return {k: v.detach().cpu() for k, v in model.transformer.state_dict().items()}


def optimizer_state(model: CosmosPolicy, optimizer: torch.optim.Optimizer) -> dict:
    with full_state(model):
        if is_fsdp(model):
            return _fsdp().optim_state_dict(model.transformer, optimizer)
        return optimizer.state_dict()


def load_states(model: CosmosPolicy, optimizer: torch.optim.Optimizer, transformer: dict[str, torch.Tensor],
                optim_state: dict) -> None:
    """Load full transformer and optimizer states (saved by the two functions above)."""
    with full_state(model):
        model.transformer.load_state_dict(transformer, strict=True)
        if is_fsdp(model):
            optim_state = _fsdp().optim_state_dict_to_load(model.transformer, optimizer, optim_state)
        optimizer.load_state_dict(optim_state)


def clip_gradients(model: CosmosPolicy, max_norm: float) -> torch.Tensor:
    """Global gradient-norm clip (the norm over all shards under FSDP); returns the norm before clipping."""
    if is_fsdp(model):
        return model.transformer.clip_grad_norm_(max_norm)
    return torch.nn.utils.clip_grad_norm_(model.transformer.parameters(), max_norm)

