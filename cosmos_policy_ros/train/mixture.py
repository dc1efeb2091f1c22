# SPDX-License-Identifier: Apache-2.0
"""The official role mixture (spec 4.1): epoch layout of demos / success / failure rollouts, roles.

An epoch is laid out as ``[demo samples][success-rollout samples][failure-rollout samples]`` with
counts scaled (smaller groups revisited modulo their size) so that P(demo) =
``demonstration_sampling_prob`` and, among rollouts, P(success) = ``success_rollout_sampling_prob``
(upstream ``calculate_epoch_structure``). A demo sample trains the policy role; a rollout sample
the world model or the value role with probability ``world_model_prob`` (planning mode: V(s')).

Groups of a converted training set: demos = successful episodes recorded without the policy
(teleop); success rollouts = successful policy episodes (plus demos when
``treat_demos_as_success_rollouts``); failure rollouts = every failed episode. Everything that
is random here is a pure function of (seed, epoch, mixture index), so every rank and every
resumed run draws the same roles.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from cosmos_policy_ros.core.layout import Role
from cosmos_policy_ros.data.dataset import EpisodeDataset

MIXTURE_INDEX = "mixture_index"
BASE_INDEX = "base_index"
SAMPLE_KIND = "sample_kind"
SUCCESS = "success"
FAILURE = "failure"


class SampleKind(enum.IntEnum):
    DEMO = 0
    SUCCESS_ROLLOUT = 1
    FAILURE_ROLLOUT = 2


class Purpose(enum.IntEnum):
    """Independent random streams drawn per sample."""

    ROLE = 0
    NOISE = 1
    AUGMENT = 2
    VALIDATION = 3


@dataclass(frozen=True)
class EpochLayout:
    """Samples per group in one epoch (upstream adjusted counts)."""

    demos: int
    success_rollouts: int
    failure_rollouts: int

    @property
    def length(self) -> int:
        return self.demos + self.success_rollouts + self.failure_rollouts

    def kind_of(self, index: int) -> SampleKind:
        if index < self.demos:
            return SampleKind.DEMO
        if index < self.demos + self.success_rollouts:
            return SampleKind.SUCCESS_ROLLOUT
        return SampleKind.FAILURE_ROLLOUT


def _balance(first: int, second: int, prob_first: float) -> tuple[int, int]:
    """Grow the smaller of two groups so that first / (first + second) ~= prob_first (0 < p < 1)."""
    first_needed = int(second * prob_first / (1 - prob_first))
    if first < first_needed:
        return first_needed, second
    return first, int(first * (1 - prob_first) / prob_first)


def epoch_layout(num_demos: int, num_success: int, num_failure: int, demo_prob: float,
                 success_prob: float) -> EpochLayout:
    """Adjusted group sizes of one epoch (spec 4.1; upstream ``calculate_epoch_structure``).

    Args:
        num_demos / num_success / num_failure: samples (steps) available in each group.
        demo_prob: target share of demo samples.
        success_prob: target share of successful rollouts among rollout samples.
    """
    if num_success + num_failure == 0:
        return EpochLayout(num_demos, 0, 0)
    if success_prob == 0 or num_success == 0:
        success, failure, success_prob = 0, num_failure, 0.0
    elif success_prob == 1 or num_failure == 0:
        success, failure, success_prob = num_success, 0, 1.0
    else:
        success, failure = _balance(num_success, num_failure, success_prob)
    if demo_prob == 0 or num_demos == 0:
        return EpochLayout(0, success, failure)
    if demo_prob == 1:
        return EpochLayout(num_demos, 0, 0)
    demos, rollouts = _balance(num_demos, success + failure, demo_prob)
    if demos == num_demos and rollouts != success + failure:
        success, failure = int(rollouts * success_prob), int(rollouts * (1 - success_prob))
    return EpochLayout(demos, success, failure)


def sample_seed(seed: int, epoch: int, mixture_index: int, purpose: Purpose) -> int:
    """A 32-bit seed that depends only on its arguments (not on rank, world size or batch split)."""
    sequence = np.random.SeedSequence([seed, epoch, mixture_index, int(purpose)])
    return int(sequence.generate_state(1, np.uint32)[0])


def draw_roles(kinds: Sequence[int], mixture_indices: Sequence[int], epoch: int, seed: int,
               world_model_prob: float, value_role: Role) -> torch.Tensor:
    """(B,) int roles: demos -> POLICY; rollouts -> WORLD_MODEL with ``world_model_prob``, else
    ``value_role``."""
    roles = []
    for kind, index in zip(kinds, mixture_indices):
        if int(kind) == SampleKind.DEMO:
            roles.append(int(Role.POLICY))
            continue
        draw = np.random.default_rng(sample_seed(seed, epoch, int(index), Purpose.ROLE)).random()
        roles.append(int(Role.WORLD_MODEL) if draw < world_model_prob else int(value_role))
    return torch.tensor(roles, dtype=torch.int64)


def _group_indices(datasets: Sequence[EpisodeDataset],
                   demos_as_success: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Global sample indices of the demo, success-rollout and failure-rollout groups."""
    demos, success, failure = [], [], []
    offset = 0
    for dataset in datasets:
        start = offset  # EpisodeDataset numbers samples episode after episode, in index order
        for entry in dataset.episodes:
            steps = np.arange(start, start + int(entry["length"]))
            start += int(entry["length"])
            if entry["outcome"] == FAILURE:
                failure.append(steps)
            elif entry["outcome"] == SUCCESS and entry["is_rollout"]:
                success.append(steps)
            elif entry["outcome"] == SUCCESS:
                demos.append(steps)
                if demos_as_success:
                    success.append(steps)
        offset += len(dataset)

    def cat(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return cat(demos), cat(success), cat(failure)


class MixtureDataset(Dataset):
    """One epoch of the role mixture over one or more converted training sets.

    Item i is the underlying sample plus ``mixture_index`` (i), ``base_index`` (index into the
    concatenated sets, the latent-cache key) and ``sample_kind`` (``SampleKind``).

    Args:
        datasets: ``EpisodeDataset`` per training set (same layout).
        demo_prob / success_prob / demos_as_success: see ``TrainConfig``.
    """

    def __init__(self, datasets: Sequence[EpisodeDataset], demo_prob: float, success_prob: float,
                 demos_as_success: bool = False) -> None:
        self.base = ConcatDataset(list(datasets))
        self.groups = _group_indices(datasets, demos_as_success)
        self.layout = epoch_layout(*(len(g) for g in self.groups), demo_prob, success_prob)
        if self.layout.length == 0:
            raise ValueError("the training sets hold no usable sample (no successful demo and no rollout "
                             f"matching the mixture; group sizes {[len(g) for g in self.groups]})")

    def __len__(self) -> int:
        return self.layout.length

    def base_index(self, index: int) -> tuple[SampleKind, int]:
        kind = self.layout.kind_of(index)
        offset = {SampleKind.DEMO: 0, SampleKind.SUCCESS_ROLLOUT: self.layout.demos,
                  SampleKind.FAILURE_ROLLOUT: self.layout.demos + self.layout.success_rollouts}[kind]
        group = self.groups[int(kind)]
        return kind, int(group[(index - offset) % len(group)])

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"mixture sample {index} out of range [0, {len(self)})")
        kind, base = self.base_index(index)
        sample = dict(self.base[base])
        sample.update({MIXTURE_INDEX: torch.tensor(index), BASE_INDEX: torch.tensor(base),
                       SAMPLE_KIND: torch.tensor(int(kind))})
        return sample
