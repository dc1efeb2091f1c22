# SPDX-License-Identifier: Apache-2.0
"""FSDP2 on CPU (gloo, 2 torchrun processes): the loss trajectory of DDP, exact resume from shards."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cosmos_policy_ros.core.config import get_preset
from cosmos_policy_ros.core.layout import Role
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.train.checkpoint import list_checkpoints
from cosmos_policy_ros.train.distributed import DistContext
from cosmos_policy_ros.train.metrics_log import read_metrics
from cosmos_policy_ros.train.parallel import DCP_METADATA, sharded_dir, wrap
from cosmos_policy_ros.train.trainer import Trainer

pytestmark = pytest.mark.train
DDP_RTOL = 1e-4  # fp32 sums over another split (shards, batch halves) differ in the last bits
TORCHRUN_TIMEOUT_S = 300


def _losses(output_dir: str) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_metrics(Path(output_dir) / "metrics.jsonl") if r["kind"] == "train"}


def _torchrun(config, tmp_path: Path) -> None:
    config_file = tmp_path / f"{Path(config.output_dir).name}.yaml"
    config_file.write_text(config.to_yaml())
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "cosmos_policy_ros.commands.train", "--config", str(config_file)],
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=TORCHRUN_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]


def test_fsdp_follows_ddp_and_resumes_exactly_from_its_shards(make_config, tmp_path: Path) -> None:
    reference = make_config("reference", steps=4)  # one process: what DDP over 2 ranks equals (test_trainer)
    Trainer(reference).run()
    fsdp = dict(parallel="fsdp", activation_checkpointing=True, checkpoint_every_steps=2, keep_checkpoints=1)
    straight = make_config("straight", steps=4, **fsdp)
    _torchrun(straight, tmp_path)
    one, sharded = _losses(reference.output_dir), _losses(straight.output_dir)
    assert sorted(sharded) == [1, 2, 3, 4]
    np.testing.assert_allclose([sharded[s] for s in one], [one[s] for s in one], rtol=DDP_RTOL)

    # The step-2 checkpoint of the same config: shards only (no gathered weights), pruned to keep=1.
    interrupted = make_config("interrupted", steps=2, **fsdp)
    _torchrun(interrupted, tmp_path)
    [step2] = list_checkpoints(interrupted.output_dir)
    assert (sharded_dir(step2) / DCP_METADATA).is_file()
    assert sorted(p.name for p in step2.parent.glob("step_*")) == [step2.name, sharded_dir(step2).name]
    resumed = make_config("interrupted", steps=4, **fsdp)
    _torchrun(resumed, tmp_path)
    assert _losses(resumed.output_dir) == sharded  # bit-exact continuation


def test_a_sharded_checkpoint_refuses_a_ddp_resume_by_name(make_config, tmp_path: Path) -> None:
    fsdp = make_config("fsdp", steps=1, parallel="fsdp", checkpoint_every_steps=1)
    _torchrun(fsdp, tmp_path)
    [step1] = list_checkpoints(fsdp.output_dir)
    with pytest.raises(ValueError, match="parallel=fsdp"):  # resumed by name: the run check is skipped
        Trainer(make_config("fsdp", steps=2, resume=str(step1)))


def test_activation_checkpointing_recomputes_blocks_with_the_same_gradients(make_config) -> None:
    ctx = DistContext(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    grads, forwards = {}, {}
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = CosmosPolicy(get_preset("tiny")).train()
        objective = wrap(model, make_config(activation_checkpointing=checkpointing), ctx)
        block = model.transformer.transformer_blocks[0]
        calls = []
        block.ff.register_forward_hook(lambda *_: calls.append(1))
        generator = torch.Generator().manual_seed(1)
        shape = (2, model.config.vae.z_dim, model.layout.num_frames, *model.frame_shape[1:])
        x0 = torch.randn(shape, generator=generator)
        roles = torch.tensor([int(Role.POLICY), int(Role.WORLD_MODEL)])
        text = model.embed_instructions(["a", "b"])
        objective(x0, x0, roles, text, torch.ones(2), torch.randn(shape, generator=generator)).mean().backward()
        grads[checkpointing] = torch.cat([p.grad.flatten() for p in model.transformer.parameters()])
        forwards[checkpointing] = len(calls)
    assert forwards == {False: 1, True: 2}  # the backward ran the block's MLP again
    torch.testing.assert_close(grads[True], grads[False])
