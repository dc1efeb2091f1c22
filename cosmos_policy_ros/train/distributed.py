# SPDX-License-Identifier: Apache-2.0
"""Process group set-up for ``torchrun`` (rank and world size from the environment).

A plain ``python -m ...`` start is one process (rank 0 of 1) without a process group. Under
torchrun: gloo on CPU, nccl on CUDA (both carry DDP and FSDP); ``LOCAL_RANK`` picks the GPU.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from cosmos_policy_ros.train.config import TrainConfig

ENV_RANK, ENV_WORLD, ENV_LOCAL_RANK = "RANK", "WORLD_SIZE", "LOCAL_RANK"


@dataclass(frozen=True)
class DistContext:
    """This process's place in the run."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if dist.is_initialized():
            dist.barrier()

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise sum of ``values`` over ranks (a CPU copy; identity for one process)."""
        out = values.detach().clone().to(self.device)
        if dist.is_initialized():
            dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out.cpu()


def _pick_device(config: TrainConfig, local_rank: int) -> torch.device:
    use_cuda = config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise RuntimeError("train config device=cuda but CUDA is not available")
    if use_cuda:
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def init_distributed(config: TrainConfig) -> DistContext:
    """Join the torchrun process group if the environment says so; pick this rank's device."""
    world_size = int(os.environ.get(ENV_WORLD, "1"))
    rank, local_rank = int(os.environ.get(ENV_RANK, "0")), int(os.environ.get(ENV_LOCAL_RANK, "0"))
    device = _pick_device(config, local_rank)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if config.global_batch_size % world_size:
        raise ValueError(f"train config global_batch_size={config.global_batch_size} is not divisible by "
                         f"the world size {world_size}")
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def shutdown_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
