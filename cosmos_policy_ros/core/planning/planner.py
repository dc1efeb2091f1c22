# SPDX-License-Identifier: Apache-2.0
"""``Planner``: batched, deadline-aware best-of-N plan-and-select over one or two ``CosmosPolicy`` models.

The policy model samples the candidate chunks; the planner model (the official ALOHA planning
checkpoint, or the policy model itself) predicts their futures and values. Both must share the
latent layout and sit on one device: the observation is encoded once, by the policy model, and
the planner conditions on the policy's generated latents (upstream reuses them without re-encoding).
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
import torch

from cosmos_policy_ros.core.model import CosmosPolicy, EncodedObservation
from cosmos_policy_ros.core.planning.aggregation import (SINGLE_SAMPLE, aggregate_values, select_candidate,
                                                         value_spread)
from cosmos_policy_ros.core.planning.budget import ForwardCostModel
from cosmos_policy_ros.core.planning.config import PlannerConfig
from cosmos_policy_ros.core.planning.schedule import (NO_FUTURE, GenerateCall, SampleKey, Stage,
                                                      check_seed_range, future_calls, policy_calls,
                                                      value_calls)

MS_PER_S = 1e3


@dataclass
class PlanResult:
    """What one decision did (fields map onto ``cosmos_policy_msgs/PlanCandidates``).

    actions: (K, D) raw actions of the selected candidate. candidate_actions: (n, K, D) of the
    n = num_evaluated candidates, in candidate order (index 0 = base seed). values / value_spreads:
    (n,) score in [0, 1] and std of its deepest level's samples; num_value_samples: (n,) int;
    value_samples: n arrays of the deepest level's raw samples (future-major, then ensemble member);
    seeds: (n,). values_by_depth: (n, levels) each searched level's aggregated score (one column
    without a deeper search); ``values`` combines them by ``PlannerConfig.depth_aggregation``.
    imagine: (``plan(imagine=True)``) decodes, when called, the selected candidate's predicted
    future images with the VAE (``core.imagination``): camera name -> uint8 (H, W, 3). Deferred, so
    a caller can act on the chunk first and pay the decode afterwards.
    """

    actions: np.ndarray
    candidate_actions: np.ndarray
    values: np.ndarray
    value_spreads: np.ndarray
    num_value_samples: np.ndarray
    value_samples: list[np.ndarray]
    seeds: np.ndarray
    selected_index: int
    reason: str
    num_requested: int
    num_evaluated: int
    aggregation: str
    mode: str
    values_by_depth: np.ndarray
    timing_ms: dict[str, float] = field(default_factory=dict)
    budget_s: float | None = None
    elapsed_s: float = 0.0
    imagine: Callable[[], dict[str, np.ndarray]] | None = None

    @property
    def selected_value(self) -> float:
        return float(self.values[self.selected_index])


@dataclass
class _Level:
    """One search level's samples. ``starts``: (depth > 1) per candidate, the latent whose current-state
    frames hold the predicted future it continues from; the policy conditions on it."""

    starts: dict[int, torch.Tensor] = field(default_factory=dict)
    policy: dict[int, torch.Tensor] = field(default_factory=dict)
    futures: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict)
    values: dict[SampleKey, float] = field(default_factory=dict)


@dataclass
class _Generated:
    """Everything one decision has generated so far, by search level (0 = the observation's);
    ``stopped_in`` names the stage the deadline cut."""

    levels: dict[int, _Level] = field(default_factory=dict)
    stage_s: dict[str, float] = field(default_factory=dict)
    stopped_in: str = ""

    def level(self, depth: int) -> _Level:
        return self.levels.setdefault(depth, _Level())


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Planner:
    """Best-of-N planning (spec 5.4), batched on one device.

    Args:
        policy_model: samples the candidate action chunks (policy role).
        planner_model: predicts futures and values; None = the policy model.
        config: planner settings (defaults: the official ALOHA planning configuration).
    """

    def __init__(self, policy_model: CosmosPolicy, planner_model: CosmosPolicy | None = None,
                 config: PlannerConfig | None = None) -> None:
        self.policy_model = policy_model
        self.planner_model = planner_model or policy_model
        self.config = config or PlannerConfig()
        self.cost = ForwardCostModel(self.config.cost_ema_weight, self.config.cost_max_age)
        planner_cfg, policy_cfg = self.planner_model.config, policy_model.config
        if (planner_cfg.layout, planner_cfg.vae) != (policy_cfg.layout, policy_cfg.vae):
            raise ValueError("planner_model must share the policy model's layout and VAE "
                             f"(layout {planner_cfg.layout} vs {policy_cfg.layout})")
        if self.planner_model.device != policy_model.device:
            raise ValueError(f"planner_model is on {self.planner_model.device}, the policy model on "
                             f"{policy_model.device}; both must share one device")

    # ------------------------------------------------------------------ public API
    def plan(self, images: Mapping[str, np.ndarray], proprio: np.ndarray, instruction: str, base_seed: int,
             budget_s: float | None = None, imagine: bool = False) -> PlanResult:
        """Sample, score and select within ``budget_s`` (None: ``config.budget_s``).

        Args:
            images: camera name -> uint8 (H, W, 3). proprio: (P,) raw. instruction: task text.
            base_seed: seed of candidate 0; candidate q uses base_seed + q.
            imagine: keep what decoding the selected candidate's predicted future needs (two more
                VAE-encoded slots, inside the budget) and set ``PlanResult.imagine``.
        """
        start = time.perf_counter()
        encoded, generated = self._encode(images, proprio, instruction, keep_placeholders=imagine)
        result = self._plan(encoded, generated, base_seed, budget_s, start)
        if imagine:
            selected = int(result.seeds[result.selected_index]) - base_seed  # the candidate (seed base + q)
            result.imagine = functools.partial(self._imagine, encoded, generated, selected)
        return result

    def _imagine(self, encoded: EncodedObservation, generated: _Generated, candidate: int) -> dict[str, np.ndarray]:
        """The candidate's predicted future: its planner future sample (the member a deeper search
        continues from) if one was generated, else the future its policy sample predicted."""
        first = generated.level(0)
        future = first.futures.get((candidate, self.config.continued_future_member))
        model, latent = ((self.planner_model, future) if future is not None
                         else (self.policy_model, first.policy[candidate]))
        decoded = model.decode_future_images(encoded, latent[None])
        return {camera: frames[0] for camera, frames in decoded.items()}

    def plan_encoded(self, encoded: EncodedObservation, base_seed: int,
                     budget_s: float | None = None) -> PlanResult:
        """``plan`` for an observation the policy model already encoded (``encode_observation``)."""
        self.cost.start_decision()
        return self._plan(encoded, _Generated(), base_seed, budget_s, time.perf_counter())

    def _plan(self, encoded: EncodedObservation, generated: _Generated, base_seed: int,
              budget_s: float | None, start: float) -> PlanResult:
        budget_s = self.config.budget_s if budget_s is None else budget_s
        num_planned = self.affordable_candidates(budget_s, time.perf_counter() - start)
        deadline = None if budget_s is None else start + budget_s
        self._run(encoded, list(range(num_planned)), base_seed, self.config.max_batch_rows, deadline,
                  generated)
        return self._result(generated, base_seed, num_planned, budget_s, start)

    def plan_serial(self, images: Mapping[str, np.ndarray], proprio: np.ndarray, instruction: str,
                    base_seed: int) -> PlanResult:
        """Reference path: candidates one after another, one sample per DiT call (as upstream on
        one GPU); same seeds and scores as ``plan`` without a budget."""
        start = time.perf_counter()
        encoded, generated = self._encode(images, proprio, instruction)
        for q in range(self.config.num_candidates):
            self._run(encoded, [q], base_seed, 1, None, generated, score=self.config.num_candidates > 1)
        return self._result(generated, base_seed, self.config.num_candidates, None, start)

    def affordable_candidates(self, budget_s: float | None, spent_s: float = 0.0) -> int:
        """Most candidates (>= 1) whose estimated work fits ``budget_s - spent_s``; all when unknown."""
        requested = self.config.num_candidates
        if budget_s is None:
            return requested
        for count in range(requested, 1, -1):
            estimate = self.estimate_s(count)
            if estimate is None or spent_s + estimate <= budget_s:
                return count
        return 1

    def estimate_s(self, num_candidates: int) -> float | None:
        """Estimated DiT seconds of a decision with ``num_candidates`` (None before measurements)."""
        candidates = list(range(num_candidates))
        calls = self._policy_calls(candidates, 0, self.config.max_batch_rows)
        levels = 1
        if num_candidates > 1:
            futures = self._future_keys(candidates)
            calls += future_calls(candidates, 0, self.config.future_num_steps, self.config.max_batch_rows)
            calls += self._value_calls(futures, 0, self.config.max_batch_rows)
            levels = self.config.search_depth  # each deeper level makes the same calls again
        total = 0.0
        for call in calls:
            seconds = self.cost.generate_s(id(self._model_for(call)), len(call.rows), call.num_steps)
            if seconds is None:
                return None
            total += seconds
        return levels * total

    # ------------------------------------------------------------------ generation
    def _encode(self, images: Mapping[str, np.ndarray], proprio: np.ndarray, instruction: str,
                keep_placeholders: bool = False) -> tuple[EncodedObservation, _Generated]:
        start = time.perf_counter()
        self.cost.start_decision()
        encoded = self.policy_model.encode_observation(images, proprio, instruction,
                                                       keep_placeholders=keep_placeholders)
        _synchronize(self.policy_model.device)
        generated = _Generated()
        generated.stage_s["encode"] = time.perf_counter() - start
        return encoded, generated

    def _model_for(self, call: GenerateCall) -> CosmosPolicy:
        return self.policy_model if call.stage is Stage.POLICY else self.planner_model

    def _policy_calls(self, candidates: list[int], base_seed: int, max_rows: int) -> list[GenerateCall]:
        check_seed_range(base_seed, max(candidates) + 1, max(len(self.config.future_num_steps),
                                                             len(self.config.value_num_steps)))
        return policy_calls(candidates, base_seed, self.config.policy_num_steps, max_rows)

    def _future_keys(self, candidates: list[int]) -> list[tuple[int, int]]:
        members = range(len(self.config.future_num_steps))
        return [(q, i) for q in candidates for i in members] or [(q, NO_FUTURE) for q in candidates]

    def _value_calls(self, futures: list[tuple[int, int]], base_seed: int,
                     max_rows: int) -> list[GenerateCall]:
        cfg = self.config
        return value_calls(futures, base_seed, cfg.value_num_steps, cfg.scoring_role, max_rows)

    def _run(self, encoded: EncodedObservation, candidates: list[int], base_seed: int, max_rows: int,
             deadline: float | None, generated: _Generated, score: bool | None = None) -> None:
        """Generate actions, futures and values of ``candidates`` level by level and stage by stage,
        stopping before the first call that would end after ``deadline`` (the first policy call
        always runs)."""
        score = len(candidates) > 1 if score is None else score
        future_steps = self.config.future_num_steps
        for depth in range(self.config.search_depth if score else 1):
            level = generated.level(depth)
            if depth:
                level.starts.update(self._continued_states(generated.level(depth - 1), candidates))
            movers = [q for q in candidates if depth == 0 or q in level.starts]
            stages = [lambda: self._policy_calls(movers, base_seed, max_rows)]
            if score:
                if future_steps:
                    stages.append(lambda: future_calls(movers, base_seed, future_steps, max_rows))
                stages.append(lambda: self._value_calls(self._scorable(movers, level), base_seed, max_rows))
            for build in stages:
                for call in build():  # built lazily: values condition on the futures that exist
                    if generated.level(0).policy and not self._fits(call, deadline):
                        generated.stopped_in = call.stage.value + (f" stage of depth {depth + 1}" if depth else "")
                        return
                    self._execute(encoded, call, level, depth, generated)

    def _continued_states(self, previous: _Level, candidates: list[int]) -> dict[int, torch.Tensor]:
        """Per candidate, its predicted future of the previous level made the current state."""
        member = self.config.continued_future_member
        layout = self.planner_model.layout
        current, future = layout.state_indices(), layout.state_indices(future=True)
        starts = {}
        for q in candidates:
            if (q, member) in previous.futures:
                latent = previous.futures[(q, member)].clone()  # (C, T, h, w)
                latent[:, current] = latent[:, future]
                starts[q] = latent
        return starts

    def _scorable(self, candidates: list[int], level: _Level) -> list[tuple[int, int]]:
        """(candidate, future) pairs the value role conditions on: the futures generated for
        ``candidates``, or their action samples when the mode has no future (Q(s, a))."""
        if self.config.future_num_steps:
            return [key for key in sorted(level.futures) if key[0] in candidates]
        return [(q, NO_FUTURE) for q in candidates if q in level.policy]

    def _fits(self, call: GenerateCall, deadline: float | None) -> bool:
        if deadline is None:
            return True
        estimate = self.cost.generate_s(id(self._model_for(call)), len(call.rows), call.num_steps)
        return time.perf_counter() + (estimate or 0.0) <= deadline

    def _condition(self, model: CosmosPolicy, encoded: EncodedObservation, call: GenerateCall,
                   level: _Level, depth: int) -> torch.Tensor | None:
        """(B, C, T, h, w) clean latents of a call; None: the encoded observation's.

        Level 0 re-injects the measured proprio (upstream); deeper levels keep the predicted state
        their samples were generated from."""
        if call.stage is Stage.POLICY:
            return torch.stack([level.starts[row.candidate] for row in call.rows]) if depth else None
        if call.stage is Stage.FUTURE:
            sources = [level.policy[row.candidate] for row in call.rows]
        else:
            sources = [level.policy[row.candidate] if row.future == NO_FUTURE
                       else level.futures[(row.candidate, row.future)] for row in call.rows]
        stacked = torch.stack(sources)
        return model.condition_from_generated(encoded, stacked) if depth == 0 else stacked

    def _execute(self, encoded: EncodedObservation, call: GenerateCall, level: _Level, depth: int,
                 generated: _Generated) -> None:
        model = self._model_for(call)
        start = time.perf_counter()
        condition = self._condition(model, encoded, call, level, depth)
        with self.cost.counting(model.transformer) as counter:
            seeds = [row.seed for row in call.rows]
            latents = model.generate(encoded, call.role, call.num_steps, seeds, condition)
        _synchronize(model.device)
        elapsed_s = time.perf_counter() - start
        self.cost.observe_generate(id(model), len(call.rows), call.num_steps, counter.forwards, elapsed_s)
        generated.stage_s[call.stage.value] = generated.stage_s.get(call.stage.value, 0.0) + elapsed_s
        if call.stage is Stage.POLICY:
            level.policy.update({row.candidate: latents[k] for k, row in enumerate(call.rows)})
        elif call.stage is Stage.FUTURE:
            level.futures.update({(row.candidate, row.future): latents[k] for k, row in enumerate(call.rows)})
        else:
            level.values.update(zip(call.rows, model.read_value(latents).tolist()))

    # ------------------------------------------------------------------ scoring and selection
    @staticmethod
    def _level_samples(level: _Level, candidates: list[int]) -> list[np.ndarray]:
        """Each candidate's value samples of one level (future-major, then ensemble member)."""
        ordered = sorted(level.values.items(), key=lambda kv: (kv[0].future, kv[0].member))
        return [np.array([v for key, v in ordered if key.candidate == q]) for q in candidates]

    def _value_samples(self, generated: _Generated) -> tuple[list[int], list[list[np.ndarray]], bool]:
        """(scored candidates, per searched level their value samples, True if from the planner's value role).

        Level 0 scores the candidates that have values; a deeper level counts only when it holds
        every value sample of each of them (a deadline inside it leaves the shallower levels'
        scores). Without any planner value (one candidate, or the deadline hit before scoring)
        every generated candidate is scored by the value its own policy sample predicted
        (upstream's direct-policy value)."""
        first = generated.level(0)
        if first.values:
            candidates = sorted({key.candidate for key in first.values})
            levels = [self._level_samples(first, candidates)]
            for depth in range(1, self.config.search_depth):
                samples = self._level_samples(generated.level(depth), candidates)
                if any(len(s) != self.config.value_samples_per_candidate for s in samples):
                    break
                levels.append(samples)
            return candidates, levels, True
        candidates = sorted(first.policy)
        policy_values = self.policy_model.read_value(torch.stack([first.policy[q] for q in candidates]))
        return candidates, [[np.array([v]) for v in policy_values]], False

    def _result(self, generated: _Generated, base_seed: int, num_planned: int, budget_s: float | None,
                start: float) -> PlanResult:
        cfg = self.config
        candidates, levels, from_planner = self._value_samples(generated)
        by_depth = np.array([[aggregate_values(s[None], cfg.aggregation, cfg.success_threshold, cfg.lcb_beta)[0]
                              for s in samples] for samples in levels]).T  # (n, levels)
        scores = by_depth[:, -1] if cfg.depth_aggregation == "use_last_value" else by_depth.mean(axis=1)
        samples = levels[-1]
        seeds = np.array([base_seed + q for q in candidates], dtype=np.int64)
        selection = select_candidate(scores, cfg.selection, seeds)
        first = generated.level(0)
        actions = self.policy_model.read_actions(torch.stack([first.policy[q] for q in candidates]))
        elapsed_s = time.perf_counter() - start
        reason = self._reason(selection.reason, len(candidates), num_planned, from_planner,
                              generated.stopped_in, budget_s, len(levels))
        timing_ms = {stage: MS_PER_S * s for stage, s in generated.stage_s.items()}
        timing_ms["total"] = MS_PER_S * elapsed_s
        return PlanResult(actions=actions[selection.index], candidate_actions=actions, values=scores,
                          value_spreads=np.array([value_spread(s[None])[0] for s in samples]),
                          num_value_samples=np.array([len(s) for s in samples]), value_samples=samples,
                          seeds=seeds, selected_index=selection.index, reason=reason,
                          num_requested=cfg.num_candidates,
                          num_evaluated=len(candidates), mode=cfg.mode,
                          aggregation=cfg.aggregation if max(map(len, samples)) > 1 else SINGLE_SAMPLE,
                          values_by_depth=by_depth, timing_ms=timing_ms, budget_s=budget_s, elapsed_s=elapsed_s)

    def _reason(self, selection_reason: str, num_evaluated: int, num_planned: int, from_planner: bool,
                stopped_in: str, budget_s: float | None, depth_searched: int) -> str:
        requested = self.config.num_candidates
        parts = []
        if num_planned < requested:
            parts.append(f"budget {budget_s:.3f} s fits {num_planned} of {requested} candidates")
        if stopped_in:
            parts.append(f"budget exhausted in the {stopped_in} stage")
        if requested == 1 or num_planned == 1:
            parts.append("plain policy")
        elif not from_planner:
            parts.append("scored by the policy sample's own value")
        parts.append(f"evaluated {num_evaluated} of {requested} candidates")
        if from_planner and self.config.search_depth > 1:
            parts.append(f"searched depth {depth_searched} of {self.config.search_depth} "
                         f"({self.config.depth_aggregation})")
        parts.append(selection_reason)
        return "; ".join(parts)
