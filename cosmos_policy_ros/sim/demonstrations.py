# SPDX-License-Identifier: Apache-2.0
"""Scripted-expert episodes written straight into the training-set format: no ROS, many processes.

Why: a policy that must read its instruction needs many distinct scenes. Trained on the 240
episodes the ROS graph records for the demo (one sim at half real time, ~4 s per episode), the
reach policy learned the scenes by heart and ignored the colour word on new ones; trained on 4000
scenes it followed the word on held-out scenes (README, demo status). This runs the same sim,
task and scripted expert in process, one sim per worker, at full speed (~1.5 episodes/s per core
at 32 px) and writes what ``cosmos-policy convert`` would make of the recorded bags: the preset's
cameras at each control tick, measured joints, the commanded reference as the action
(``data/align.py``), value targets, TELEOP modes, split, statistics and index.

Episode ``i`` uses scene seed ``seed + i // targets_per_scene`` (``scene_target``); a ``noisy_share``
of them (spread evenly) use the perturbed expert, whose detours and early stops give the value its
failures.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cosmos_policy_ros.data.converter import (ConvertConfig, EpisodeSummary, WrittenEpisode,
                                              finish_training_set, write_episode)
from cosmos_policy_ros.presets import RobotPreset
from cosmos_policy_ros.sim.arm_sim import ArmSim
from cosmos_policy_ros.sim.expert import ExpertConfig, ScriptedExpert
from cosmos_policy_ros.sim.kinematics import ArmKinematics
from cosmos_policy_ros.sim.rollout import ExpertRollout, run_expert_episode
from cosmos_policy_ros.sim.scene import build_scene_config
from cosmos_policy_ros.sim.tasks import TASKS, TWIN_SIDES, TaskConfig, TwinReachTask, make_task

MODE_TELEOP = 0  # PolicyStatus.MODE_TELEOP (the message package is not imported here: ROS-free)


@dataclass(frozen=True)
class SimDemoConfig:
    """What to generate.

    Args:
        task: sim task name.
        episodes: number of episodes.
        seed: scene seed of episode 0.
        targets_per_scene: consecutive episodes that share a scene, each reaching another of the
            scene's target colours (``scene_target``; 1 = one episode per scene, its seed's own
            target). Several give the same images with different instructions and actions: the
            colour word is then the only way to tell them apart.
        noisy_share: share of episodes run by the perturbed expert (spread evenly).
        far_share: ``twin`` only: share of episodes whose expert goes to the far twin (each
            episode draws it from its seed and index); None = the scene seed's own random twin.
            More far-twin demos move a policy's two modes towards the far one.
        noise: ``ExpertConfig`` fields of the perturbed expert.
        time_limit_s: sim seconds per episode at most (the task's own limit when longer).
        scene: scene YAML (block size, camera mounts); empty = the default scene.
        workers: processes (0 = one per CPU).
        val_fraction / gamma / split_seed: as ``cosmos-policy convert``.
    """

    task: str = "reach"
    episodes: int = 1000
    seed: int = 0
    targets_per_scene: int = 1
    noisy_share: float = 0.4
    far_share: float | None = None
    noise: Mapping[str, float] = field(default_factory=lambda: {
        "action_noise_rad": 0.03, "detour_probability": 0.5, "wrong_grasp_probability": 0.6,
        "early_stop_probability": 0.4})
    time_limit_s: float = 3.0
    scene: str = ""
    workers: int = 0
    val_fraction: float = 0.1
    gamma: float = 0.99
    split_seed: int = 0

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"SimDemoConfig.task={self.task!r} must be one of {sorted(TASKS)}")
        if self.episodes < 1:
            raise ValueError(f"SimDemoConfig.episodes={self.episodes} must be >= 1")
        check_targets_per_scene("SimDemoConfig", self.targets_per_scene, self.task_config().target_colours)
        if not 0.0 <= self.noisy_share <= 1.0:
            raise ValueError(f"SimDemoConfig.noisy_share={self.noisy_share} must be in [0, 1]")
        check_far_share("SimDemoConfig", self.far_share, self.task, self.targets_per_scene)
        if not self.time_limit_s > 0:
            raise ValueError(f"SimDemoConfig.time_limit_s={self.time_limit_s} must be > 0")
        if self.workers < 0:
            raise ValueError(f"SimDemoConfig.workers={self.workers} must be >= 0 (0 = one per CPU)")
        unknown = set(self.noise) - {f.name for f in dataclasses.fields(ExpertConfig)}
        if unknown:
            raise ValueError(f"SimDemoConfig.noise has unknown ExpertConfig fields {sorted(unknown)}")

    def is_noisy(self, index: int) -> bool:
        return is_noisy_episode(index, self.noisy_share)

    def task_config(self) -> TaskConfig:
        """The task settings of ``scene`` (its target colours)."""
        return TaskConfig.for_scene(self.scene)

    def episode_scene(self, index: int) -> tuple[int, str]:
        """(scene seed, target) of episode ``index``: a colour, ``near`` / ``far`` (``far_share``),
        or "" = the seed's own target."""
        seed, target = scene_target(index, self.seed, self.targets_per_scene, self.task_config().target_colours)
        if self.far_share is not None:
            target = twin_side(self.seed, index, self.far_share)
        return seed, target


def check_targets_per_scene(owner: str, targets_per_scene: int, target_colours: Sequence[str]) -> None:
    """Raise unless 1 <= ``targets_per_scene`` <= the number of colours a scene may name."""
    if not 1 <= targets_per_scene <= len(target_colours):
        raise ValueError(f"{owner}.targets_per_scene={targets_per_scene} must be in "
                         f"[1, {len(target_colours)}] (one per target colour {list(target_colours)})")


def scene_target(index: int, first_seed: int, targets_per_scene: int,
                 target_colours: Sequence[str]) -> tuple[int, str]:
    """(scene seed, target block colour) of episode ``index``; "" = the seed's own target.

    Consecutive groups of ``targets_per_scene`` episodes share a scene and reach different blocks
    of ``target_colours`` (they rotate with the scene, so every colour is a target equally often).
    """
    scene, turn = divmod(index, targets_per_scene)
    if targets_per_scene == 1:
        return first_seed + scene, ""
    return first_seed + scene, target_colours[(scene + turn) % len(target_colours)]


def check_far_share(owner: str, far_share: float | None, task: str, targets_per_scene: int) -> None:
    """Raise unless ``far_share`` is unset, or a share in [0, 1] for ``twin`` with one target per scene."""
    if far_share is None:
        return
    if task != TwinReachTask.name or targets_per_scene != 1:
        raise ValueError(f"{owner}.far_share applies to task twin with targets_per_scene 1 (got task {task!r}, "
                         f"targets_per_scene {targets_per_scene})")
    if not 0.0 <= far_share <= 1.0:
        raise ValueError(f"{owner}.far_share={far_share} must be in [0, 1]")


def twin_side(seed: int, index: int, far_share: float) -> str:
    """The twin (``near`` / ``far``) the expert of episode ``index`` goes to: far with ``far_share``."""
    return TWIN_SIDES[1] if np.random.default_rng([seed, index]).random() < far_share else TWIN_SIDES[0]


def is_noisy_episode(index: int, noisy_share: float) -> bool:
    """Whether episode ``index`` uses the perturbed expert: ``noisy_share`` of them, spread evenly."""
    return int((index + 1) * noisy_share) > int(index * noisy_share)


def square_image_size(preset: RobotPreset) -> int:
    """The one square camera size of ``preset`` (what the model sees; nothing is resized here)."""
    sizes = {(c.height, c.width) for c in preset.cameras}
    if len(sizes) != 1:
        raise ValueError(f"preset {preset.name}: cameras have sizes {sorted(sizes)}; sim demos need one size")
    height, width = sizes.pop()
    if height != width:
        raise ValueError(f"preset {preset.name}: cameras are {height}x{width}; sim demos need square images")
    return height


class _Worker:
    """One sim, task and kinematics per process (MuJoCo models and GL contexts are not shared)."""

    def __init__(self, preset: RobotPreset, config: SimDemoConfig) -> None:
        self.cameras = tuple(c.name for c in preset.cameras)
        scene = build_scene_config([(c.name, c.height, c.width) for c in preset.cameras], config.scene)
        self.sim = ArmSim(scene)
        self.task = make_task(config.task, config.task_config())
        self.kinematics = ArmKinematics()
        self.config = config
        self.control_dt_s = 1.0 / preset.control_rate_hz

    def run(self, index: int) -> ExpertRollout:
        noise = self.config.noise if self.config.is_noisy(index) else {}
        expert = ScriptedExpert(self.config.task, self.kinematics, ExpertConfig(control_dt_s=self.control_dt_s, **noise))
        seed, target = self.config.episode_scene(index)
        return run_expert_episode(self.sim, self.task, expert, seed, cameras=self.cameras,
                                  time_limit_s=self.config.time_limit_s, target=target)


_WORKER: _Worker | None = None


def _init_worker(preset: RobotPreset, config: SimDemoConfig) -> None:
    global _WORKER
    _WORKER = _Worker(preset, config)


def _run_episode(index: int) -> tuple[int, ExpertRollout]:
    assert _WORKER is not None, "worker not initialised"
    return index, _WORKER.run(index)


def _episodes(preset: RobotPreset, config: SimDemoConfig) -> Iterator[tuple[int, ExpertRollout]]:
    workers = config.workers or os.cpu_count() or 1
    if workers == 1:
        worker = _Worker(preset, config)
        yield from ((i, worker.run(i)) for i in range(config.episodes))
        return
    # spawn, not fork: a parent that has rendered holds GL state that a forked child must not inherit
    with multiprocessing.get_context("spawn").Pool(workers, _init_worker, (preset, config)) as pool:
        yield from pool.imap(_run_episode, range(config.episodes), chunksize=4)


def generate_sim_demos(preset: RobotPreset, config: SimDemoConfig, out: Path,
                       progress: Callable[[Iterable], Iterable] = lambda x: x) -> list[EpisodeSummary]:
    """Run ``config.episodes`` expert episodes and write them as a training set at ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    convert = ConvertConfig(image_size=square_image_size(preset), gamma=config.gamma,
                            val_fraction=config.val_fraction, seed=config.split_seed)
    dt_ns = int(round(1e9 / preset.control_rate_hz))
    kept: list[WrittenEpisode] = []
    for index, result in progress(_episodes(preset, config)):
        length = len(result.references)
        summary = EpisodeSummary(
            source=f"sim:{config.task}:seed={result.episode.seed}:target={result.episode.target_colour}", episode_id=f"sim_{index:06d}",
            length=length, duration_s=result.duration_s, outcome="success" if result.success else "failure",
            is_rollout=False, interventions=0, dropped_ticks={}, max_gap_s={})
        kept.append(write_episode(out, index, summary, result.episode.instruction, {
            "images": result.images, "proprio": result.proprio, "actions": result.references,
            "modes": np.full(length, MODE_TELEOP, np.uint8),
            "timestamps_ns": np.arange(length, dtype=np.int64) * dt_ns}, config.gamma))
    finish_training_set(out, kept, preset, convert)
    return [k.summary for k in kept]
