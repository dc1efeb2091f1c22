# SPDX-License-Identifier: Apache-2.0
"""Scoring and choosing candidates: value-ensemble aggregation and the selection rules.

Aggregation mirrors upstream ``aggregate_value_predictions`` (``cosmos_utils.py`` L766-821, spec 5.4):

    average       mean of the samples
    lcb           mean - beta * std (std with Bessel's correction, as ``torch.std``)
    success_vote  fraction of samples > success_threshold
    majority_mean if >= 50 % of the samples are > success_threshold: mean of those samples, else 0

and the result is clipped to [0, 1]. A single sample (fast mode, the policy sample's own value) is
its own score under every rule: the vote rules would turn it into 0 or 1 (``majority_mean`` maps
every value <= 0.05 to 0, so such candidates tie), and one sample has no spread. Selection (spec 5.4 step 5): the ALOHA server keeps the base-seed
candidate unless another is strictly better ("seed switching", ``deploy.py`` L636-656); LIBERO/RoboCasa
take the first maximum ("argmax").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AGGREGATIONS = ("majority_mean", "average", "lcb", "success_vote")
SELECTIONS = ("seed_switching", "argmax")
SINGLE_SAMPLE = "single_sample"  # what a decision reports as its aggregation with one sample each
MAJORITY_FRACTION = 0.5  # upstream: success_ratio >= 0.5
BASE_INDEX = 0  # candidate 0 carries the base seed


def value_spread(samples: np.ndarray) -> np.ndarray:
    """(n, M) value samples -> (n,) standard deviation (ddof=1 like ``torch.std``; 0 for M = 1)."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.shape[1] < 2:
        return np.zeros(samples.shape[0])
    return samples.std(axis=1, ddof=1)


def aggregate_values(samples: np.ndarray, rule: str, success_threshold: float, lcb_beta: float) -> np.ndarray:
    """Aggregate each candidate's value samples into one score.

    Args:
        samples: (n, M) values in [0, 1]; row = candidate, columns = its M ensemble samples.
        rule: one of ``AGGREGATIONS``.
        success_threshold: a sample above it votes "success" (upstream 0.05).
        lcb_beta: weight of the std in ``lcb`` (upstream 1.0).
    Returns:
        (n,) float64 scores in [0, 1]; with one sample per candidate, that sample (any rule).
    """
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 2 or samples.shape[1] < 1:
        raise ValueError(f"value samples must be (candidates, samples>=1), got shape {samples.shape}")
    if rule not in AGGREGATIONS:
        raise ValueError(f"aggregation rule {rule!r} unknown; expected one of {AGGREGATIONS}")
    if samples.shape[1] == 1:
        return np.clip(samples[:, 0], 0.0, 1.0)
    votes = samples > success_threshold
    if rule == "average":
        score = samples.mean(axis=1)
    elif rule == "lcb":
        score = samples.mean(axis=1) - lcb_beta * value_spread(samples)
    elif rule == "success_vote":
        score = votes.mean(axis=1)
    elif rule == "majority_mean":
        num_votes = votes.sum(axis=1)
        mean_of_votes = np.where(votes, samples, 0.0).sum(axis=1) / np.maximum(num_votes, 1)
        score = np.where(num_votes / samples.shape[1] >= MAJORITY_FRACTION, mean_of_votes, 0.0)
    return np.clip(score, 0.0, 1.0)


@dataclass(frozen=True)
class Selection:
    """Which candidate to execute and why."""

    index: int
    reason: str


def select_candidate(scores: np.ndarray, rule: str, seeds: np.ndarray | None = None) -> Selection:
    """Choose among the scored candidates (candidate 0 = base seed).

    Args:
        scores: (n,) aggregated scores, n >= 1.
        rule: ``seed_switching`` (keep candidate 0 unless one is strictly better; among equal maxima
            the first) or ``argmax`` (first maximum).
        seeds: (n,) seeds, only for the reason text.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(f"scores must be a non-empty 1-D array, got shape {scores.shape}")
    best = int(np.argmax(scores))  # first maximum, like Python's max() over the seed dict upstream
    label = f"candidate {best}" + (f" (seed {int(seeds[best])})" if seeds is not None else "")
    if rule == "argmax":
        return Selection(best, f"argmax: {label} scored {scores[best]:.4f}")
    if rule != "seed_switching":
        raise ValueError(f"selection rule {rule!r} unknown; expected one of {SELECTIONS}")
    if scores[best] > scores[BASE_INDEX]:
        return Selection(best, f"seed switching: {label} scored {scores[best]:.4f} > base seed "
                               f"{scores[BASE_INDEX]:.4f}")
    return Selection(BASE_INDEX, f"base seed kept (no strictly better candidate; base scored "
                                 f"{scores[BASE_INDEX]:.4f})")
