# SPDX-License-Identifier: Apache-2.0
"""The model side of policy_node: serve a loaded model, decide one chunk.

ROS-free (numpy in, numpy out), so it is tested without rclpy. :class:`PolicyRunner` is the only
object that touches the model; policy_node calls it from its single inference thread. With more
than one candidate it runs plan-and-select (``core.planning.Planner``), else ``model.act``. It
serves the :class:`ServedModel` it is given: a checkpoint (:func:`checkpoint_model`) or, asked
for explicitly, :func:`~cosmos_policy_ros.serving.random_model.random_model`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from cosmos_policy_ros.core.acceleration import DTYPES
from cosmos_policy_ros.core.config import LayoutConfig
from cosmos_policy_ros.core.convert_official import OFFICIAL_POLICY_NUM_STEPS
from cosmos_policy_ros.core.layout import Role
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.core.planning import Planner, PlanResult, PlannerConfig
from cosmos_policy_ros.core.planning.config import MODES
from cosmos_policy_ros.core.text_cache import missing_instruction_message
from cosmos_policy_ros.presets import RobotPreset
from cosmos_policy_ros.settings import check_settings, same_as, setting
from cosmos_policy_ros.serving.decision import Decision, PlanSummary

MS_PER_S = 1000.0
VALUE_ROLES = {"V(s')": Role.VALUE_FUTURE, "V(s,a,s')": Role.VALUE, "Q(s,a)": Role.Q_VALUE}
AUTO_MODE = "auto"
WARMUP_INSTRUCTION = "warm up"  # the warm-up inference's instruction when none is set yet


@dataclass(frozen=True)
class ModelSource:
    """Where the model comes from and how it runs (policy_node's parameters, without ROS).

    Args:
        checkpoint: ``from_pretrained`` folder (empty when the node serves a random model).
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

    checkpoint: str = setting("", "from_pretrained folder (config.json + model.safetensors); empty needs "
                              "allow_random_init.")
    device: str = setting("cpu", "Torch device of the model (cpu, cuda, cuda:1).")
    dtype: str = setting("float32", "Transformer dtype.", choices=tuple(DTYPES))
    num_steps: int = setting(0, "Denoiser evaluations per chunk; 0 = the model's default.", min_value=0,
                             max_value=100)
    num_candidates: int = setting(1, "Candidate chunks per decision (1 = plain policy).", min_value=1, max_value=64)
    planning_mode: str = setting(AUTO_MODE, "Plan-and-select scoring: full (official ensembles), fast (one future, "
                                 "one value), q_value; auto = full for an official platform's checkpoint, else fast.",
                                 choices=(AUTO_MODE, *MODES))
    search_depth: int = same_as(PlannerConfig, "search_depth")
    depth_aggregation: str = same_as(PlannerConfig, "depth_aggregation")
    planning_checkpoint: str = setting("", "from_pretrained folder of the planning model that predicts futures and "
                                       "values (e.g. the converted official ALOHA planning checkpoint; the policy "
                                       "checkpoint still makes the actions); empty = the policy checkpoint scores.")
    value_role: str = setting("V(s')", "Candidate score: V(s') (official planning checkpoint), V(s,a,s') (a policy "
                              "checkpoint's own value), Q(s,a) (no future state: q_value mode).",
                              choices=tuple(VALUE_ROLES))
    imagination: bool = setting(False, "Also publish what the model imagines: the selected candidate's predicted "
                                "future images on ~/imagined/<camera> and every candidate's end-effector path on "
                                "~/candidate_paths (costs one VAE decode and forward kinematics per decision).")

    def __post_init__(self) -> None:
        check_settings(self)
        if self.planning_checkpoint and self.num_candidates < 2:
            raise ValueError("planning_checkpoint needs plan-and-select (num_candidates > 1)")


@dataclass(frozen=True)
class ServedModel:
    """A loaded model with what the node says about it: its name and a status note ('' = none)."""

    model: CosmosPolicy
    name: str
    note: str = ""


def check_layout(layout: LayoutConfig, preset: RobotPreset) -> None:
    """Raise ValueError when the model's layout cannot serve the robot preset."""
    expected_cameras = tuple(c.name for c in preset.cameras)
    problems = []
    if tuple(layout.camera_names) != expected_cameras:
        problems.append(f"cameras {list(layout.camera_names)} != preset {list(expected_cameras)}")
    if layout.action_dim != len(preset.action_names):
        problems.append(f"action_dim {layout.action_dim} != {len(preset.action_names)} ({preset.action_space})")
    if layout.proprio_dim != preset.num_joints:
        problems.append(f"proprio_dim {layout.proprio_dim} != {preset.num_joints} joints")
    if layout.chunk_length < preset.execute_steps:
        problems.append(f"chunk_length {layout.chunk_length} < execute_steps {preset.execute_steps}")
    trained = (layout.image_height, layout.image_width)
    fed = sorted({c.model_size for c in preset.cameras} - {trained})
    if fed:  # the model would see images of another size than it was trained on
        problems.append(f"the checkpoint's image size is {trained[1]}x{trained[0]} (config.json layout."
                        f"image_width x image_height) but the preset's cameras feed the model "
                        f"{', '.join(f'{w}x{h}' for h, w in fed)} (cameras[].model_width x model_height, else "
                        f"width x height); serve it with a preset of its size, or train on a set converted "
                        f"at the preset's size (cosmos-policy convert without --image-size)")
    if problems:
        raise ValueError(f"model layout does not fit robot preset {preset.name!r}: {'; '.join(problems)}")


def pretrained_model(folder: str, source: ModelSource, preset: RobotPreset) -> CosmosPolicy:
    """A from_pretrained folder on the source's device and dtype, checked against the robot preset."""
    model = CosmosPolicy.from_pretrained(folder, device=source.device, dtype=DTYPES[source.dtype])
    check_layout(model.config.layout, preset)
    return model


def checkpoint_model(source: ModelSource, preset: RobotPreset) -> ServedModel:
    """The policy checkpoint of ``source``, named after its folder."""
    if not source.checkpoint:
        raise ValueError("checkpoint is empty: give a from_pretrained folder")
    return ServedModel(pretrained_model(source.checkpoint, source, preset), Path(source.checkpoint).name)


class PolicyRunner:
    """Owns the model (and planner); every call comes from the node's one inference thread."""

    def __init__(self, served: ServedModel, source: ModelSource, preset: RobotPreset,
                 planner: Planner | None = None) -> None:
        self.model = served.model
        self.source = source
        self.planner = planner
        self.action_names = preset.action_names
        self.model_name = served.name
        self.status_note = served.note

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

    def decision_seed(self, base_seed: int, sequence: int) -> int:
        """Seed of decision ``sequence``: its candidates use ``seed .. seed + N - 1``, so no two
        decisions of a run share a noise draw."""
        return base_seed + sequence * self.source.num_candidates

    def decide(self, images: Mapping[str, np.ndarray], proprio: np.ndarray, instruction: str, seed: int,
               budget_s: float) -> Decision:
        """One chunk for one observation (images: camera -> (H, W, 3) uint8; proprio: (J,))."""
        started = time.perf_counter()
        if self.planner is None:
            result = self.model.act(images, proprio, instruction, seed=seed,
                                    num_steps=self.source.num_steps or None)
            model_ms = (time.perf_counter() - started) * MS_PER_S
            return Decision(np.asarray(result.actions, dtype=np.float64), float(result.value), 0, 1, model_ms,
                            PlanSummary.plain(float(result.value), seed, model_ms))
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


def plan_decision(plan: PlanResult, model_ms: float) -> Decision:
    """A core.planning PlanResult as a Decision; an unlimited budget becomes NaN."""
    budget_ms = float("nan") if plan.budget_s is None else plan.budget_s * MS_PER_S
    summary = PlanSummary(
        values=tuple(float(v) for v in plan.values),
        value_spreads=tuple(float(v) for v in plan.value_spreads),
        num_value_samples=tuple(int(n) for n in plan.num_value_samples),
        seeds=tuple(int(s) for s in plan.seeds),
        selected_index=int(plan.selected_index), reason=str(plan.reason),
        num_requested=int(plan.num_requested), num_evaluated=int(plan.num_evaluated),
        budget_ms=float(budget_ms), elapsed_ms=float(plan.elapsed_s * MS_PER_S), aggregation=str(plan.aggregation))
    return Decision(np.asarray(plan.actions, dtype=np.float64), plan.selected_value, int(plan.selected_index),
                    int(plan.num_evaluated), model_ms, summary)


def load_runner(source: ModelSource, preset: RobotPreset, served: ServedModel | None = None) -> PolicyRunner:
    """Serve ``served`` (default: the source's checkpoint) with, for more than one candidate (or
    imagination), the plan-and-select planner."""
    served = served or checkpoint_model(source, preset)
    model = served.model
    planner = None
    if source.num_candidates > 1 or source.imagination:
        planning_model = model
        if source.planning_checkpoint:
            planning_model = pretrained_model(source.planning_checkpoint, source, preset)
        planner = Planner(model, planning_model, planner_config(source, model, planning_model))
    return PolicyRunner(served, source, preset, planner)


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
