# SPDX-License-Identifier: Apache-2.0
"""Data parallelism: DDP around the objective, or FSDP2 around the transformer (the 2B model).

DDP keeps a full replica per rank and averages gradients. FSDP (``fully_shard``, the FSDP torch
2.13 recommends; runs on CUDA/nccl and on CPU/gloo, which is how CI tests it) shards each
transformer block and then the rest of the transformer, so a rank holds 1/world of the weights,
gradients and AdamW state and gathers one block at a time. On CUDA with bf16 precision the
gathered parameters are bf16 and gradients reduce in fp32 (``MixedPrecisionPolicy``);
``activation_checkpointing`` recomputes each block's activations in the backward pass.

Checkpoints: DDP writes full state dicts (rank 0). FSDP writes its shards with
``torch.distributed.checkpoint`` into ``step_<n>.sharded/`` beside the step folder, every rank its
own part, no gather; resume needs the same ``parallel=fsdp`` (any world size: DCP reshards). The
exported model gathers a full state dict on rank 0. EMA with FSDP is not supported (the official
recipe runs without EMA).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import torch
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                     get_optimizer_state_dict, set_model_state_dict,
                                                     set_optimizer_state_dict)
from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard
from torch.nn.parallel import DistributedDataParallel

from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.train.config import TrainConfig
from cosmos_policy_ros.train.distributed import DistContext
from cosmos_policy_ros.train.objective import TrainingObjective

SHARDED_SUFFIX = ".sharded"
DCP_METADATA = ".metadata"  # written last by ``dcp.save``: its presence marks a complete sharded state
FULL_ON_RANK0 = StateDictOptions(full_state_dict=True, cpu_offload=True)


def wrap(model: CosmosPolicy, config: TrainConfig, ctx: DistContext) -> nn.Module:
    """The module to call for the per-sample loss: the objective, wrapped for the run."""
    model.to(ctx.device)
    if config.activation_checkpointing:
        model.transformer.enable_gradient_checkpointing()
    if config.parallel == "fsdp":
        if config.ema_decay > 0:
            raise ValueError("train config ema_decay > 0 is not supported with parallel=fsdp")
        bf16 = ctx.device.type == "cuda" and config.precision in ("auto", "bf16")
        policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16 \
            else MixedPrecisionPolicy()
        for block in model.transformer.transformer_blocks:
            fully_shard(block, mp_policy=policy)
        fully_shard(model.transformer, mp_policy=policy)
        return TrainingObjective(model)
    objective = TrainingObjective(model)
    if not ctx.distributed:
        return objective
    device_ids = [ctx.local_rank] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(objective, device_ids=device_ids)


def is_fsdp(model: CosmosPolicy) -> bool:
    return isinstance(model.transformer, FSDPModule)


def transformer_state(model: CosmosPolicy) -> dict[str, torch.Tensor]:
    """Full transformer state dict on CPU (under FSDP: every rank must call; only rank 0 gets it)."""
    if is_fsdp(model):
        return get_model_state_dict(model.transformer, options=FULL_ON_RANK0)
    return {k: v.detach().cpu() for k, v in model.transformer.state_dict().items()}


def optimizer_state(model: CosmosPolicy, optimizer: torch.optim.Optimizer) -> dict:
    """The optimizer's full state dict (empty under FSDP: its shards go to ``save_sharded``)."""
    return {} if is_fsdp(model) else optimizer.state_dict()


def sharded_dir(checkpoint: str | Path) -> Path:
    """Where FSDP's shards of the checkpoint folder ``checkpoint`` live."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + SHARDED_SUFFIX)


def save_sharded(model: CosmosPolicy, optimizer: torch.optim.Optimizer, checkpoint: str | Path) -> None:
    """Every rank writes its transformer and optimizer shards (collective; FSDP only)."""
    target = sharded_dir(checkpoint)
    shutil.rmtree(target, ignore_errors=True)
    dcp.save({"transformer": get_model_state_dict(model.transformer),
              "optimizer": get_optimizer_state_dict(model.transformer, optimizer)}, checkpoint_id=target)


def prune_sharded(checkpoints: list[Path]) -> None:
    """Delete shard folders whose step folder is no longer among ``checkpoints`` (rank 0)."""
    if not checkpoints:
        return
    kept = {sharded_dir(c) for c in checkpoints}
    for folder in checkpoints[0].parent.glob(f"*{SHARDED_SUFFIX}"):
        if folder not in kept:
            shutil.rmtree(folder, ignore_errors=True)


def load_states(model: CosmosPolicy, optimizer: torch.optim.Optimizer, transformer: dict[str, torch.Tensor],
                optim_state: dict, checkpoint: str | Path) -> None:
    """Resume the weights and optimizer: FSDP from its shards, DDP from the full states saved above."""
    if is_fsdp(model):
        source = sharded_dir(checkpoint)
        if not (source / DCP_METADATA).is_file():
            raise FileNotFoundError(f"{checkpoint} has no sharded FSDP state {source} (written by "
                                    "parallel=ddp? resume it with parallel=ddp)")
        state = {"transformer": get_model_state_dict(model.transformer),
                 "optimizer": get_optimizer_state_dict(model.transformer, optimizer)}
        dcp.load(state, checkpoint_id=source)
        set_model_state_dict(model.transformer, state["transformer"])
        set_optimizer_state_dict(model.transformer, optimizer, state["optimizer"])
        return
    if not transformer:
        raise ValueError(f"{checkpoint} holds sharded FSDP state only; resume it with parallel=fsdp")
    model.transformer.load_state_dict(transformer, strict=True)
    optimizer.load_state_dict(optim_state)


def clip_gradients(model: CosmosPolicy, max_norm: float) -> torch.Tensor:
    """Global gradient-norm clip (the norm over all shards under FSDP); returns the norm before clipping."""
    norm = torch.nn.utils.clip_grad_norm_(model.transformer.parameters(), max_norm)
    return norm.full_tensor() if isinstance(norm, torch.distributed.tensor.DTensor) else norm
