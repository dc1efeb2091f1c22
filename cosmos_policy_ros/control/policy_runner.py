# SPDX-License-Identifier: Apache-2.0
"""The model side of policy_node: load the checkpoint (or a random model), decide one chunk.

ROS-free (numpy in, numpy out), so it is tested without rclpy. :class:`PolicyRunner` is the only
object that touches the model; policy_node calls it from its single inference thread. With more
than one candidate it runs plan-and-select (``core.planning.Planner``), else ``model.act``.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from cosmos_policy_ros.control.action_spaces import EE_DELTA_NAMES
from cosmos_policy_ros.core.acceleration import DTYPES
from cosmos_policy_ros.core.codec import DatasetStatistics, NormalizationStats
from cosmos_policy_ros.core.config import LayoutConfig, get_preset
from cosmos_policy_ros.core.convert_official import OFFICIAL_POLICY_NUM_STEPS
from cosmos_policy_ros.core.layout import Role
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.core.planning import Planner, PlanResult, PlannerConfig
from cosmos_policy_ros.core.text_cache import missing_instruction_message
from cosmos_policy_ros.presets import RobotPreset

MS_PER_S = 1000.0
VALUE_ROLES = {"V(s')": Role.VALUE_FUTURE, "V(s,a,s')": Role.VALUE, "Q(s,a)": Role.Q_VALUE}
AUTO_MODE = "auto"
RANDOM_WEIGHTS_NOTE = "RANDOM WEIGHTS (allow_random_init): chunks are noise, for tests and timing only"


@dataclass(frozen=True)
class ModelSource:
    """Where the model comes from and how it runs (policy_node's parameters, without ROS).

    Args:
        checkpoint: ``from_pretrained`` folder; empty = random weights (needs ``allow_random_init``).
        allow_random_init: permit the random-weight model.
        random_preset: model preset of the random model (its layout follows the robot preset).
        action_center: random model's action centre (1 value or one per action dimension).
        action_half_range: random model's normalization half range around the centre.
        device / dtype: torch device and transformer dtype.
        num_steps: denoiser evaluations per chunk (0 = the model's default).
        num_candidates / planning_mode: plan-and-select (1 = plain policy); mode ``auto`` = the
            official ``full`` ensemble for a checkpoint of an official platform, else ``fast``.
        search_depth / depth_aggregation: the planner's deeper search (``PlannerConfig``).
        planning_checkpoint: from_pretrained folder of the planning model that predicts futures
            and values (upstream: the planning checkpoint scores, the base policy acts); empty =
            the policy checkpoint scores its own candidates.
        value_role: how candidates are scored (``VALUE_ROLES``): V(s') (official planning
            checkpoint), V(s,a,s') (a policy checkpoint's own value), Q(s,a) (no future state).
        imagination: decisions also return the selected candidate's predicted future images (the
            plain policy then runs as a one-candidate planner, which computes the same chunk).
    """

    checkpoint: str
    allow_random_init: bool
    random_preset: str
    action_center: tuple[float, ...]
    action_half_range: float
    device: str
    dtype: str
    num_steps: int
    num_candidates: int
    planning_mode: str
    search_depth: int = 1
    depth_aggregation: str = "use_last_value"
    planning_checkpoint: str = ""
    value_role: str = "V(s')"
    imagination: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype={self.dtype!r} must be one of {sorted(DTYPES)}")
        if self.value_role not in VALUE_ROLES:
            raise ValueError(f"value_role={self.value_role!r} must be one of {sorted(VALUE_ROLES)}")
        if self.planning_checkpoint and self.num_candidates < 2:
            raise ValueError("planning_checkpoint needs plan-and-select (num_candidates > 1)")
        if not self.checkpoint and not self.allow_random_init:
            raise ValueError("checkpoint is empty and allow_random_init is false: give a from_pretrained folder")


@dataclass
class Decision:
    """One chosen chunk: actions (K, A) raw, its value, which candidate, model time; ``plan`` holds
    the PlanCandidates fields (values, seeds, reason, ...), one candidate for the plain policy.
    With imagination: ``candidate_actions`` (n, K, A) raw and ``imagine`` (call after acting on the
    chunk: decodes camera -> uint8 image of the selected candidate's predicted future)."""

    actions: np.ndarray
    value: float
    candidate_index: int
    num_candidates: int
    model_ms: float
    plan: dict[str, Any]
    candidate_actions: np.ndarray | None = None
    imagine: Callable[[], dict[str, np.ndarray]] | None = None


def action_names(preset: RobotPreset) -> tuple[str, ...]:
    """Column names of the model's actions for the preset's action space."""
    return EE_DELTA_NAMES if preset.action_space == "ee_delta" else preset.joints


def check_layout(layout: LayoutConfig, preset: RobotPreset) -> None:
    """Raise ValueError when the model's layout cannot serve the robot preset."""
    expected_cameras = tuple(c.name for c in preset.cameras)
    problems = []
    if tuple(layout.camera_names) != expected_cameras:
        problems.append(f"cameras {list(layout.camera_names)} != preset {list(expected_cameras)}")
    if layout.action_dim != len(action_names(preset)):
        problems.append(f"action_dim {layout.action_dim} != {len(action_names(preset))} ({preset.action_space})")
    if layout.proprio_dim != preset.num_joints:
        problems.append(f"proprio_dim {layout.proprio_dim} != {preset.num_joints} joints")
    if layout.chunk_length < preset.execute_steps:
        problems.append(f"chunk_length {layout.chunk_length} < execute_steps {preset.execute_steps}")
    if problems:
        raise ValueError(f"model layout does not fit robot preset {preset.name!r}: {'; '.join(problems)}")


def random_statistics(source: ModelSource, action_dim: int, proprio_dim: int) -> DatasetStatistics:
    """Random model statistics: actions within +-half_range (x the network's output spread) of the centre."""
    center = np.asarray(source.action_center, dtype=np.float64)
    if center.size not in (1, action_dim):
        raise ValueError(f"random_init.action_center has {center.size} values; need 1 or {action_dim}")
    center = np.broadcast_to(center, (action_dim,))
    half = np.full(action_dim, source.action_half_range)
    actions = NormalizationStats(min=center - half, max=center + half, mean=center.copy(),
                                 std=half.copy(), median=center.copy())
    return DatasetStatistics(actions=actions, proprio=DatasetStatistics.identity(action_dim, proprio_dim).proprio)


def build_model(source: ModelSource, preset: RobotPreset) -> CosmosPolicy:
    """The checkpoint, or (allowed explicitly) a random-weight model with the preset's layout."""
    if source.checkpoint:
        model = CosmosPolicy.from_pretrained(source.checkpoint, device=source.device, dtype=DTYPES[source.dtype])
        check_layout(model.config.layout, preset)
        return model
    base = get_preset(source.random_preset)
    layout = LayoutConfig.from_robot_preset(preset, image_size=(base.layout.image_height, base.layout.image_width))
    layout = dataclasses.replace(layout, action_dim=len(action_names(preset)))
    config = base.replace(layout=layout)
    model = CosmosPolicy(config, random_statistics(source, layout.action_dim, layout.proprio_dim))
    model.to(device=source.device)
    model.transformer.to(dtype=DTYPES[source.dtype])
    return model.eval()


class PolicyRunner:
    """Owns the model (and planner); every call comes from the node's one inference thread."""

    def __init__(self, model: CosmosPolicy, source: ModelSource, preset: RobotPreset,
                 planner: Planner | None = None) -> None:
        self.model = model
        self.source = source
        self.planner = planner
        self.action_names = action_names(preset)
        self.random_weights = not source.checkpoint
        self.model_name = (f"random-{source.random_preset}" if self.random_weights
                           else Path(source.checkpoint).name)
        self.status_note = RANDOM_WEIGHTS_NOTE if self.random_weights else ""

    @property
    def device_name(self) -> str:
        return str(self.model.device)

    def describe(self) -> str:
        depth = (f", search depth {self.source.search_depth} ({self.source.depth_aggregation})"
                 if self.source.search_depth > 1 else "")
        scorer = (f", scored by {Path(self.source.planning_checkpoint).name}" if self.source.planning_checkpoint
                  else "")
        mode = (f"plan-and-select N={self.source.num_candidates} ({self.planner.config.mode}, "
                f"{self.planner.config.scoring_role.name}{scorer}{depth})"
                if self.source.num_candidates > 1 else "plain policy")
        return f"model {self.model_name} on {self.device_name} ({self.source.dtype}), {mode}"

    def check_instruction(self, instruction: str) -> str:
        """'' when the model can embed ``instruction``, else why not."""
        cache = self.model.text_cache
        if instruction and cache.encoder != "hash" and instruction not in cache:
            return missing_instruction_message(instruction, len(cache), cache.encoder)
        return ""

    def decide(self, images: Mapping[str, np.ndarray], proprio: np.ndarray, instruction: str, seed: int,
               budget_s: float) -> Decision:
        """One chunk for one observation (images: camera -> (H, W, 3) uint8; proprio: (J,))."""
        started = time.perf_counter()
        if self.planner is None:
            result = self.model.act(images, proprio, instruction, seed=seed,
                                    num_steps=self.source.num_steps or None)
            model_ms = (time.perf_counter() - started) * MS_PER_S
            return Decision(np.asarray(result.actions, dtype=np.float64), float(result.value), 0, 1, model_ms,
                            plain_plan(float(result.value), seed, model_ms))
        plan = self.planner.plan(images, proprio, instruction, base_seed=seed, budget_s=budget_s,
                                 imagine=self.source.imagination)
        model_ms = (time.perf_counter() - started) * MS_PER_S
        decision = plan_decision(plan, model_ms)
        if self.source.imagination:
            decision.candidate_actions, decision.imagine = plan.candidate_actions, plan.imagine
        return decision

    def warm_up(self, preset: RobotPreset, instruction: str) -> float:
        """One inference on a blank observation (allocations, kernels); returns its wall time [ms]."""
        layout = self.model.config.layout
        blank = np.zeros((layout.image_height, layout.image_width, 3), dtype=np.uint8)
        images = {c.name: blank for c in preset.cameras}
        decision = self.decide(images, np.zeros(layout.proprio_dim), instruction, seed=0, budget_s=float("inf"))
        return decision.model_ms

    def release(self) -> None:
        """Drop the model and planner; free cached GPU memory."""
        on_cuda = self.model.device.type == "cuda"
        self.model = self.planner = None
        if on_cuda:
            torch.cuda.empty_cache()


def plain_plan(value: float, seed: int, model_ms: float) -> dict[str, Any]:
    """The PlanCandidates fields of a plain policy decision (N=1): one candidate, its own value."""
    return {"values": [value], "value_spreads": [0.0], "num_value_samples": [1], "seeds": [seed],
            "selected_index": 0, "reason": "plain policy (num_candidates 1)", "num_requested": 1,
            "num_evaluated": 1, "budget_ms": math.nan, "elapsed_ms": model_ms, "aggregation": "none"}


def plan_decision(plan: PlanResult, model_ms: float) -> Decision:
    """A core.planning PlanResult as a Decision whose ``plan`` holds the PlanCandidates fields.

    ``call_for_teleop`` is left to the node (its ``value_threshold`` parameter can change at run
    time); an unlimited budget is published as NaN.
    """
    budget_ms = math.nan if plan.budget_s is None else plan.budget_s * MS_PER_S
    fields = {
        "values": [float(v) for v in plan.values],
        "value_spreads": [float(v) for v in plan.value_spreads],
        "num_value_samples": [int(n) for n in plan.num_value_samples],
        "seeds": [int(s) for s in plan.seeds],
        "selected_index": int(plan.selected_index),
        "reason": str(plan.reason),
        "num_requested": int(plan.num_requested),
        "num_evaluated": int(plan.num_evaluated),
        "budget_ms": float(budget_ms),
        "elapsed_ms": float(plan.elapsed_s * MS_PER_S),
        "aggregation": str(plan.aggregation),
    }
    return Decision(np.asarray(plan.actions, dtype=np.float64), plan.selected_value, int(plan.selected_index),
                    int(plan.num_evaluated), model_ms, fields)


def load_runner(source: ModelSource, preset: RobotPreset) -> PolicyRunner:
    """Build the model and, for more than one candidate, the plan-and-select planner."""
    model = build_model(source, preset)
    planner = None
    if source.num_candidates > 1 or source.imagination:
        planning_model = model
        if source.planning_checkpoint:
            planning_model = CosmosPolicy.from_pretrained(source.planning_checkpoint, device=source.device,
                                                          dtype=DTYPES[source.dtype])
            check_layout(planning_model.config.layout, preset)
        planner = Planner(model, planning_model, planner_config(source, model, planning_model))
    return PolicyRunner(model, source, preset, planner)


def planning_mode(source: ModelSource, planning_model: CosmosPolicy) -> str:
    """The planner mode: Q(s,a) scoring is ``q_value``; ``auto`` is the official ``full`` ensemble
    for an official platform's checkpoint (a converted official one), else ``fast``."""
    if source.value_role == "Q(s,a)" or source.planning_mode == "q_value":
        return "q_value"
    if source.planning_mode == AUTO_MODE:
        return "full" if planning_model.config.layout.platform in OFFICIAL_POLICY_NUM_STEPS else "fast"
    return source.planning_mode


def planner_config(source: ModelSource, policy_model: CosmosPolicy, planning_model: CosmosPolicy) -> PlannerConfig:
    """The planner settings of a node: step counts from the checkpoints' sampler configs (the
    policy's for actions unless ``num_steps`` overrides it, the planning model's for futures and
    values), the mode and value role from ``source``, everything else the official ALOHA planning
    configuration (``PlannerConfig``)."""
    steps = planning_model.config.sampler
    mode = planning_mode(source, planning_model)
    value_role = VALUE_ROLES[source.value_role] if mode != "q_value" else PlannerConfig.value_role
    return PlannerConfig(num_candidates=source.num_candidates, mode=mode, value_role=value_role,
                         search_depth=source.search_depth, depth_aggregation=source.depth_aggregation,
                         policy_num_steps=source.num_steps or policy_model.num_steps_for(Role.POLICY),
                         future_max_num_steps=steps.world_model_num_steps, value_max_num_steps=steps.value_num_steps)
