# SPDX-License-Identifier: Apache-2.0
"""Validation during training: loss per role and sampled-action error on held-out episodes.

Every validation sample is scored in each trained role with fixed noise (seeded by its index),
so successive validations are comparable. The action error is the MSE (raw units) between the
policy's sampled chunk (``CosmosPolicy.generate``, the sampler used at deployment) and the
recorded chunk. Samples are split evenly over ranks (equal counts: FSDP forwards are collective).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from torch.utils.data.dataloader import default_collate

from cosmos_policy_ros.core import features
from cosmos_policy_ros.core.layout import Role
from cosmos_policy_ros.core.model import CosmosPolicy, EncodedObservation
from cosmos_policy_ros.train.distributed import DistContext
from cosmos_policy_ros.train.mixture import Purpose, sample_seed
from cosmos_policy_ros.train.objective import TrainingObjective, draw_sigma_and_noise

VALIDATION_EPOCH = 0  # validation noise does not change between validations


def evenly_spaced(count: int, limit: int, world_size: int) -> list[int]:
    """Up to ``limit`` indices spread over range(count), trimmed to a multiple of ``world_size``."""
    if count == 0 or limit == 0:
        return []
    chosen = np.unique(np.linspace(0, count - 1, num=min(count, limit)).round().astype(int)).tolist()
    return chosen[:len(chosen) // world_size * world_size]


class Validator:
    """Scores held-out samples.

    Args:
        model: the model being trained (its transformer may be FSDP-wrapped).
        dataset: validation samples (``EpisodeDataset`` rows).
        roles: roles to score (policy, world model and the run's value role).
        encode: (dataset indices, batch) -> (x0, condition latents, text embeddings), the trainer's encoding.
        ctx: process context; batch_size: samples per forward per rank.
        max_samples / action_samples / num_steps / seed: see ``TrainConfig.val_*``.
    """

    def __init__(self, model: CosmosPolicy, dataset: Dataset, roles: Sequence[Role],
                 encode: Callable[[list[int], dict], tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
                 ctx: DistContext,
                 batch_size: int, max_samples: int, action_samples: int, num_steps: int, seed: int) -> None:
        self.model, self.dataset, self.roles, self.encode, self.ctx = model, dataset, list(roles), encode, ctx
        self.batch_size, self.num_steps, self.seed = batch_size, num_steps, seed
        self.loss_indices = evenly_spaced(len(dataset), max_samples, ctx.world_size)[ctx.rank::ctx.world_size]
        action_indices = evenly_spaced(len(dataset), action_samples, ctx.world_size)
        self.action_indices = action_indices[ctx.rank::ctx.world_size]
        self.objective = TrainingObjective(model)

    def _batches(self, indices: list[int]):
        for start in range(0, len(indices), self.batch_size):
            chunk = indices[start:start + self.batch_size]
            yield chunk, default_collate([self.dataset[i] for i in chunk])

    @torch.no_grad()
    def _role_losses(self) -> torch.Tensor:
        sums = torch.zeros(2 * len(self.roles), dtype=torch.float64)  # per role: sum, count
        for chunk, batch in self._batches(self.loss_indices):
            x0, cond, text = self.encode(chunk, batch)
            seeds = [sample_seed(self.seed, VALIDATION_EPOCH, i, Purpose.VALIDATION) for i in chunk]
            sigma, noise = draw_sigma_and_noise(self.model, seeds, x0.shape[1:])
            for r, role in enumerate(self.roles):
                roles = torch.full((len(chunk),), int(role))
                sums[2 * r] += self.objective(x0, cond, roles, text, sigma, noise).double().sum().cpu()
                sums[2 * r + 1] += len(chunk)
        return sums

    @torch.no_grad()
    def _action_error(self) -> torch.Tensor:
        sums = torch.zeros(2, dtype=torch.float64)  # squared-error sum, element count
        for chunk, batch in self._batches(self.action_indices):
            x0, _, text = self.encode(chunk, batch)
            proprio = self.model.statistics.proprio.normalize(batch[features.OBS_PROPRIO].numpy())
            encoded = EncodedObservation(latents=x0, text_embedding=text, proprio_normalized=proprio)
            seeds = [sample_seed(self.seed, VALIDATION_EPOCH, i, Purpose.VALIDATION) for i in chunk]
            latents = self.model.generate(encoded, Role.POLICY, self.num_steps or None, seeds,
                                          condition_latents=x0)
            error = self.model.read_actions(latents) - batch[features.ACTIONS].numpy()
            sums += torch.tensor([float((error ** 2).sum()), float(error.size)], dtype=torch.float64)
        return sums

    def run(self) -> dict[str, float]:
        """{"val_loss_<role>": mean loss, "val_action_mse": mean squared action error} over all ranks."""
        was_training = self.model.training
        self.model.eval()
        try:
            totals = self.ctx.sum(torch.cat([self._role_losses(), self._action_error()]))
        finally:
            self.model.train(was_training)
        out = {}
        for r, role in enumerate(self.roles):
            if totals[2 * r + 1] > 0:
                out[f"val_loss_{role.name.lower()}"] = float(totals[2 * r] / totals[2 * r + 1])
        if totals[-1] > 0:
            out["val_action_mse"] = float(totals[-2] / totals[-1])
        return out
