# SPDX-License-Identifier: Apache-2.0
"""``DemoConfig``: what ``cosmos-policy demo`` runs (defaults in ``config/demo/demo.yaml``)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cosmos_policy_ros.config_checks import reject_unknown_fields
from cosmos_policy_ros.presets import CONFIG_DIR
from cosmos_policy_ros.ros.graph import ScenarioDefaults

REPO_ROOT = CONFIG_DIR.parent
DEFAULT_DEMO_CONFIG = CONFIG_DIR / "demo" / "demo.yaml"
PLANNING_MODES = ("full", "fast", "q_value")
DEFAULT_TASK = "reach"  # the quick demo: config/demo/demo.yaml and retrain.yaml


def task_config_file(kind: str, task: str) -> Path:
    """``config/demo/<kind>.yaml`` for the default task, ``<kind>_<task>.yaml`` for another
    (``kind``: ``demo`` or ``retrain``): each task's checkpoint, scene and limits in one file.

    Raises:
        ValueError: the task has no such file.
    """
    path = CONFIG_DIR / "demo" / (f"{kind}.yaml" if task == DEFAULT_TASK else f"{kind}_{task}.yaml")
    if not path.is_file():
        have = sorted(p.stem.removeprefix(f"{kind}_") for p in (CONFIG_DIR / "demo").glob(f"{kind}_*.yaml"))
        raise ValueError(f"no {kind} config for task {task!r} ({path}); tasks with one: {[DEFAULT_TASK, *have]}")
    return path


@dataclass(frozen=True)
class DemoConfig:
    """The demo run.

    Args:
        task: sim task.
        episodes: episodes per setting (plain policy N=1, plan-and-select N=num_candidates).
        seed: run seed; episode e uses scene seed ``seed_offset + seed + e``.
        seed_offset: keeps demo scenes apart from the training scenes (seeds below it).
        checkpoint: policy checkpoint folder (relative paths: from the repository root).
        planning_checkpoint: the planning model that scores plan-and-select's candidates (a
            fine-tune on the policy's rollouts); empty = the policy checkpoint scores them.
        preset: robot preset YAML (relative paths: from the repository root).
        scene: the sim's scene YAML (block size, camera mounts; the scene the checkpoint was
            trained in); empty = the default scene.
        num_candidates: N of plan-and-select.
        planning_mode: full | fast | q_value (see core/planning/config.py).
        real_time_factor_n1 / real_time_factor_plan: sim pacing per setting (< 1: slower than
            real time, so inference takes less sim time; the nodes follow /clock).
        camera_rate_hz: camera rate of the sim (sim time).
        time_limit_s: sim time per episode before it counts as failed.
        handoff_at_s: hand-off episode: teleop time before the policy takes over.
        handoff_expert_speed_mps: hand-off episode: the expert's tool speed (slower than when
            collecting demos, so the policy takes over mid-way to the block).
        forced_threshold: hand-off episode: the policy value threshold set to force a call for teleop.
        gif_fps: frame rate of the episode GIF.
    """

    task: str = DEFAULT_TASK
    episodes: int = 20
    seed: int = 0
    seed_offset: int = 100000
    checkpoint: str = "checkpoints/demo_reach"
    planning_checkpoint: str = ""
    preset: str = "config/demo/sim_arm_32.yaml"
    scene: str = "config/demo/scene_32.yaml"
    num_candidates: int = 8
    planning_mode: str = "fast"
    real_time_factor_n1: float = 0.5
    real_time_factor_plan: float = 0.5
    camera_rate_hz: float = 10.0
    time_limit_s: float = 6.0
    handoff_at_s: float = 0.3
    handoff_expert_speed_mps: float = 0.1
    forced_threshold: float = 1.0
    gif_fps: int = 10

    def __post_init__(self) -> None:
        for name in ("episodes", "num_candidates", "gif_fps"):
            if getattr(self, name) < 1:
                raise ValueError(f"DemoConfig.{name}={getattr(self, name)} must be >= 1")
        for name in ("real_time_factor_n1", "real_time_factor_plan", "camera_rate_hz", "time_limit_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"DemoConfig.{name}={getattr(self, name)} must be > 0")
        if self.seed < 0 or self.seed_offset < 0:
            raise ValueError(f"DemoConfig.seed={self.seed} / seed_offset={self.seed_offset} must be >= 0")
        if self.planning_mode not in PLANNING_MODES:
            raise ValueError(f"DemoConfig.planning_mode={self.planning_mode!r} must be one of "
                             f"{PLANNING_MODES}")

    def seeds(self) -> list[int]:
        """Scene seeds of the run's episodes (the same scenes for every setting)."""
        return [self.seed_offset + self.seed + e for e in range(self.episodes)]

    @staticmethod
    def resolve(path: str) -> Path:
        """A config path: absolute as given, else relative to the repository (share) root."""
        return Path(path) if Path(path).is_absolute() else REPO_ROOT / path

    @classmethod
    def resolve_optional(cls, path: str) -> str:
        """``resolve`` for an optional path: absolute, and empty (the default) stays empty."""
        return str(cls.resolve(path)) if path else ""

    def scenario_defaults(self) -> ScenarioDefaults:
        """What ``sim_demo`` runs when no robot is chosen (``up``, the launch file): this demo's
        sim arm, checkpoint, scene and sim-time pacing, as ``cosmos-policy demo`` runs it."""
        return ScenarioDefaults(
            robot=self.resolve_optional(self.preset), checkpoint=self.resolve_optional(self.checkpoint),
            use_sim_time=True, sim_params={"scene": self.resolve_optional(self.scene),
                                           "real_time_factor": self.real_time_factor_n1,
                                           "camera_rate_hz": self.camera_rate_hz})

    def replace(self, **changes: Any) -> "DemoConfig":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_yaml(cls, path: str | Path = DEFAULT_DEMO_CONFIG) -> "DemoConfig":
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        reject_unknown_fields(path, data, cls)
        return cls(**data)
