# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy demo --retrain``: the demo checkpoint from scratch, with our own commands.

    (a) collect   scripted expert teleoperates through the arbiter (clean and perturbed runs),
                  recorder_node writes one bag per episode with its outcome
    (b) convert   ``cosmos-policy convert`` bags -> training set (the model's image size)
    (c0) init     the VAE trained as an autoencoder on the demo frames, then frozen; latents
                  calibrated (train/scratch_vae.py, train/vae_pretraining.py)
    (c) train     ``cosmos-policy train`` on demos from that initial model
    (d) roll out  the early policy on the node graph, recorded the same way; convert;
                  ``cosmos-policy train`` planning fine-tune on demos + rollouts
    (e) write     the final folder -> ``output_checkpoint``

Each stage prints its wall time. The converter and the trainer run as the user would run them
(``python -m cosmos_policy_ros.cli ...`` subprocesses, their progress bars on the terminal).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cosmos_policy_ros.config_checks import reject_unknown_fields
from cosmos_policy_ros.core.config import CosmosPolicyConfig
from cosmos_policy_ros.core.pretrained import CONFIG_FILE, STATISTICS_FILE, TEXT_FILE, WEIGHTS_FILE
from cosmos_policy_ros.demo.config import CONFIG_DIR, DemoConfig
from cosmos_policy_ros.demo.episode_runner import (CLEAN_EXPERT, NOISY_EXPERT, EpisodeConfig, EpisodeResult,
                                                   EpisodeRunner)
from cosmos_policy_ros.demo.setting import Setting, run_setting
from cosmos_policy_ros.presets import load_preset
from cosmos_policy_ros.sim.demonstrations import (SimDemoConfig, check_far_share, check_targets_per_scene,
                                                  generate_sim_demos, is_noisy_episode, scene_target)
from cosmos_policy_ros.sim.tasks import TaskConfig
from cosmos_policy_ros.train.scratch_vae import build_initial_model
from cosmos_policy_ros.train.vae_pretraining import VAEPretrainConfig

DEFAULT_RETRAIN_CONFIG = CONFIG_DIR / "demo" / "retrain.yaml"
SIM_DEMO_SEED_OFFSET = 200_000  # (a2) scene seeds: clear of the demos', the rollouts' and the demo run's (100000+)
CHECKPOINT_FILES = (CONFIG_FILE, WEIGHTS_FILE, STATISTICS_FILE, TEXT_FILE)
TRAIN_FINAL_DIR = "final"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class RetrainConfig:
    """The pipeline's sizes (defaults: ``config/demo/retrain.yaml``).

    Args:
        task / preset / model_config: task, robot preset YAML, model sizes JSON.
        scene: the sim's scene YAML (block size, camera mounts); empty = the default scene. The
            demo (``config/demo/demo.yaml``) must run the scene the checkpoint was trained in.
        output_checkpoint: where the final checkpoint folder is written (with
            ``output_planning_checkpoint``: the policy of stage (c)).
        output_planning_checkpoint: where the planning fine-tune (d3) is written as a separate
            scorer of the policy's candidates (policy_node ``planning_checkpoint``, spec 4.5: the
            base policy acts, the planning model scores); empty = (d3) is the one checkpoint.
        seed: seeds scenes (demos use seeds from ``seed``, rollouts continue after them), init, training.
        init_checkpoint: a ``from_pretrained`` folder the policy stage fine-tunes (its VAE, latent
            statistics and normalization kept); empty = a new model from the demo frames (c0).
        num_demos / noisy_share / noise: teleop episodes, share of perturbed-expert episodes and
            the perturbation parameters (``expert_teleop`` ``noise.*``); 0 teleop episodes needs
            ``sim_demos`` and ``init_checkpoint`` (the in-process expert runs the same sim).
        targets_per_scene: consecutive demos (and sim demos) that share a scene seed, each reaching
            another of the scene's target colours (1: one per scene, its seed's target;
            ``scene_target``). With a few hundred scenes, one target per scene lets a small policy
            learn "this layout -> that block" and ignore the instruction; several targets per
            scene make the colour word the only way to tell them apart.
        sim_demos: scripted-expert episodes made in process without ROS (``cosmos-policy
            sim-demos``, stage (a2); scene seeds from ``seed + SIM_DEMO_SEED_OFFSET``), trained on
            with the recorded demos: the many scenes instruction grounding needs (0 = none).
        sim_demo_workers: processes of (a2) (0 = one per CPU).
        sim_demo_far_share: ``twin``: share of (a2)'s episodes that go to the far twin
            (``SimDemoConfig.far_share``); None = each scene seed's random twin.
        collect_real_time_factor / collect_time_limit_s: sim pacing and episode limit of (a) and (a2).
        expert_speed_mps: tool speed of the teleop experts in (a) (None: the expert node's
            default); slower demos give the policy more observations per reach.
        camera_rate_hz: sim camera rate.
        calibration_images: observations used to calibrate the latent statistics.
        vae_pretrain: autoencoder training of the VAE in (c0) (``VAEPretrainConfig`` fields).
        policy_train_config / planning_train_config: train YAMLs of (c) and (d).
        num_rollouts / rollout_real_time_factor / rollout_time_limit_s: early-policy rollouts of (d).
        step_overrides: extra ``field=value`` train overrides for both stages (tests: tiny budgets).
        train_threads: torch threads of the training processes (``OMP_NUM_THREADS``); 0 = torch's
            default. On a busy 2-core machine one thread is several times faster than two that
            fight over a core.
    """

    task: str = "reach"
    preset: str = "config/demo/sim_arm_32.yaml"
    model_config: str = "config/demo/model.json"
    scene: str = "config/demo/scene_32.yaml"
    output_checkpoint: str = "checkpoints/demo_reach"
    output_planning_checkpoint: str = ""
    seed: int = 0
    init_checkpoint: str = ""
    num_demos: int = 160
    targets_per_scene: int = 1
    sim_demos: int = 0
    sim_demo_workers: int = 0
    sim_demo_far_share: float | None = None
    noisy_share: float = 0.4
    noise: dict[str, float] = field(default_factory=dict)
    collect_real_time_factor: float = 2.0
    collect_time_limit_s: float = 3.0
    expert_speed_mps: float | None = None
    camera_rate_hz: float = 10.0
    calibration_images: int = 64
    vae_pretrain: VAEPretrainConfig = field(default_factory=VAEPretrainConfig)
    policy_train_config: str = "config/demo/train_policy.yaml"
    num_rollouts: int = 60
    rollout_real_time_factor: float = 0.5
    rollout_time_limit_s: float = 3.0
    planning_train_config: str = "config/demo/train_planning.yaml"
    step_overrides: tuple[str, ...] = ()
    train_threads: int = 0

    def __post_init__(self) -> None:
        if self.expert_speed_mps is not None and self.expert_speed_mps <= 0:
            raise ValueError(f"RetrainConfig.expert_speed_mps={self.expert_speed_mps} must be > 0")
        if self.sim_demos < 0 or self.sim_demo_workers < 0:
            raise ValueError(f"RetrainConfig.sim_demos={self.sim_demos} / sim_demo_workers="
                             f"{self.sim_demo_workers} must be >= 0")
        if self.calibration_images < 1:
            raise ValueError(f"RetrainConfig.calibration_images={self.calibration_images} must be >= 1")
        if self.num_demos < 0 or (self.num_demos == 0 and not (self.sim_demos and self.init_checkpoint)):
            raise ValueError(f"RetrainConfig.num_demos={self.num_demos} must be >= 1, or 0 with sim_demos "
                             "and an init_checkpoint (without teleop demos there is no VAE to train)")
        check_targets_per_scene("RetrainConfig", self.targets_per_scene, self.task_config().target_colours)
        check_far_share("RetrainConfig.sim_demo", self.sim_demo_far_share, self.task, self.targets_per_scene)
        if self.num_rollouts < 0:
            raise ValueError(f"RetrainConfig.num_rollouts={self.num_rollouts} must be >= 0")
        if not 0.0 <= self.noisy_share <= 1.0:
            raise ValueError(f"RetrainConfig.noisy_share={self.noisy_share} must be in [0, 1]")

    @classmethod
    def from_yaml(cls, path: str | Path = DEFAULT_RETRAIN_CONFIG) -> "RetrainConfig":
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        reject_unknown_fields(path, data, cls)
        if "step_overrides" in data:
            data["step_overrides"] = tuple(data["step_overrides"])
        if "vae_pretrain" in data:
            reject_unknown_fields(f"{path}: vae_pretrain", data["vae_pretrain"], VAEPretrainConfig)
            data["vae_pretrain"] = VAEPretrainConfig(**data["vae_pretrain"])
        return cls(**data)

    def expert_for(self, index: int) -> str:
        """Clean or perturbed expert for demo ``index`` (perturbed ones spread evenly)."""
        noisy = is_noisy_episode(index, self.noisy_share) and bool(self.noise)
        return NOISY_EXPERT if noisy else CLEAN_EXPERT

    def task_config(self) -> TaskConfig:
        """The task settings of ``scene`` (its target colours)."""
        return TaskConfig.for_scene(DemoConfig.resolve_optional(self.scene))

    def demo_scene(self, index: int) -> tuple[int, str]:
        """(scene seed, target block colour) of demo ``index``; "" = the seed's own target."""
        return scene_target(index, self.seed, self.targets_per_scene, self.task_config().target_colours)


STAGES = ("collect", "convert_demos", "sim_demos", "init", "train_policy", "rollouts", "convert_rollouts",
          "train_planning", "write")


class StopAfterStage(Exception):
    """Raised after the stage the user asked to stop at."""


class StageTimer:
    """Runs stages in order, prints each one's wall time, and reuses finished ones.

    A finished stage leaves ``<work>/<stage>.done``; a rerun in the same work folder skips it
    (so an interrupted retrain continues; delete the folder to start from scratch).

    Args:
        work: the pipeline's work folder.
        progress: where messages go.
        until: stop after this stage (None: run all).
    """

    def __init__(self, work: Path, progress: Progress, until: str | None = None) -> None:
        if until is not None and until not in STAGES:
            raise ValueError(f"retrain until={until!r} must be one of {STAGES}")
        self.work, self.progress, self.until = work, progress, until
        self.times_s: dict[str, float] = {}

    def run(self, key: str, name: str, stage: Callable[[], object]) -> None:
        marker = self.work / f"{key}.done"
        if marker.exists():
            self.progress(f"[retrain] {name}: reused (finished earlier; {marker})")
        else:
            self.progress(f"[retrain] {name} ...")
            started = time.monotonic()
            stage()
            self.times_s[key] = time.monotonic() - started
            marker.write_text(f"{self.times_s[key]:.1f}\n", encoding="utf-8")
            self.progress(f"[retrain] {name} done in {self.times_s[key]:.0f} s")
        if key == self.until:
            raise StopAfterStage(key)


def _cli(*args: str, threads: int = 0) -> None:
    """Run ``cosmos-policy <args>`` as the user would (output on our terminal)."""
    env = dict(os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads > 0 else {}))
    subprocess.run([sys.executable, "-m", "cosmos_policy_ros.cli", *args], check=True, env=env)


def collect_demos(config: RetrainConfig, bags: Path, logs: Path, progress: Progress) -> list[EpisodeResult]:
    setting = Setting("collect", str(DemoConfig.resolve(config.preset)), config.collect_real_time_factor,
                      config.camera_rate_hz, record_dir=str(bags), noise=dict(config.noise),
                      expert_speed_mps=config.expert_speed_mps, scene=DemoConfig.resolve_optional(config.scene))
    episodes = EpisodeConfig(task=config.task, time_limit_s=config.collect_time_limit_s)

    def run(runner: EpisodeRunner) -> Iterator[EpisodeResult]:
        for index in range(config.num_demos):
            expert = config.expert_for(index)
            seed, target = config.demo_scene(index)
            result = runner.teleop_episode(seed, expert, record=True, target=target)
            progress(f"demo {index + 1}/{config.num_demos} ({expert}, seed {result.seed}): "
                     f"{'success' if result.success else 'failure'}")
            yield result
    return run_setting(setting, episodes, logs, run)


def generate_demos_in_process(config: RetrainConfig, out: Path, progress: Progress) -> None:
    """Stage (a2): ``config.sim_demos`` expert episodes straight into a training set (sim/demonstrations.py)."""
    sim_config = SimDemoConfig(
        task=config.task, episodes=config.sim_demos, seed=config.seed + SIM_DEMO_SEED_OFFSET,
        targets_per_scene=config.targets_per_scene, noisy_share=config.noisy_share,
        far_share=config.sim_demo_far_share, noise=dict(config.noise),
        time_limit_s=config.collect_time_limit_s, scene=DemoConfig.resolve_optional(config.scene),
        workers=config.sim_demo_workers)
    summaries = generate_sim_demos(load_preset(str(DemoConfig.resolve(config.preset))), sim_config, out)
    progress(f"[retrain] sim demos: {sum(s.outcome == 'success' for s in summaries)}/{len(summaries)} successful")


def collect_rollouts(config: RetrainConfig, checkpoint: Path, bags: Path, logs: Path,
                     progress: Progress) -> list[EpisodeResult]:
    setting = Setting("rollouts", str(DemoConfig.resolve(config.preset)), config.rollout_real_time_factor,
                      config.camera_rate_hz, checkpoint=str(checkpoint), record_dir=str(bags),
                      policy_seed=config.seed, scene=DemoConfig.resolve_optional(config.scene))
    episodes = EpisodeConfig(task=config.task, time_limit_s=config.rollout_time_limit_s)
    first_seed = config.seed + config.num_demos

    def run(runner: EpisodeRunner) -> Iterator[EpisodeResult]:
        runner.warm_up(first_seed)
        for index in range(config.num_rollouts):
            result = runner.policy_episode(first_seed + index, record=True)
            progress(f"rollout {index + 1}/{config.num_rollouts} (seed {result.seed}): "
                     f"{'success' if result.success else 'failure'}")
            yield result
    return run_setting(setting, episodes, logs, run)


def convert(bags: Path, out: Path, config: RetrainConfig, image_size: int) -> None:
    _cli("convert", str(bags), str(out), "--robot", str(DemoConfig.resolve(config.preset)),
         "--image-size", str(image_size), "--seed", str(config.seed))


def train(config_path: str, data_roots: list[Path], init: Path, out: Path, config: RetrainConfig) -> Path:
    roots = "[" + ", ".join(str(r) for r in data_roots) + "]"
    overrides = [f"data_roots={roots}", f"output_dir={out}", f"init_checkpoint={init}",
                 f"seed={config.seed}", *config.step_overrides]
    sets = [arg for override in overrides for arg in ("--set", override)]
    _cli("train", "--config", str(DemoConfig.resolve(config_path)), *sets, threads=config.train_threads)
    return out / TRAIN_FINAL_DIR


def write_checkpoint(folder: Path, destination: Path) -> Path:
    """Copy the four files of a ``from_pretrained`` folder (nothing else) to ``destination``."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in CHECKPOINT_FILES:
        shutil.copy2(folder / name, destination / name)
    return destination


def retrain(config: RetrainConfig, work: Path, progress: Progress = print,
            until: str | None = None) -> Path | None:
    """Run stages (a)-(e) in ``work``; returns the written checkpoint (None: stopped ``until`` a stage)."""
    work = work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    timer = StageTimer(work, progress, until)
    model_config = CosmosPolicyConfig.from_json(DemoConfig.resolve(config.model_config))
    image_size = model_config.layout.image_height
    demos, rollouts = work / "demos", work / "rollouts"
    demo_roots = ([demos] if config.num_demos else []) + ([work / "sim_demos"] if config.sim_demos else [])
    policy = work / "train_policy" / TRAIN_FINAL_DIR
    planning = work / "train_planning" / TRAIN_FINAL_DIR
    separate_planner = bool(config.output_planning_checkpoint and config.num_rollouts)
    final = planning if config.num_rollouts and not separate_planner else policy
    init = DemoConfig.resolve(config.init_checkpoint) if config.init_checkpoint else work / "init_model"
    stages: list[tuple[str, str, Callable[[], object]]] = []
    if config.num_demos:
        stages += [
            ("collect", "(a) collect teleop demos", lambda: _report(progress, "demos", collect_demos(
                config, work / "bags" / "demos", work / "logs", progress))),
            ("convert_demos", "(b) convert demos", lambda: convert(
                work / "bags" / "demos", demos, config, image_size))]
    if config.sim_demos:
        stages.append(("sim_demos", "(a2) scripted-expert sim demos, no ROS",
                       lambda: generate_demos_in_process(config, work / "sim_demos", progress)))
    if not config.init_checkpoint:
        stages.append(("init", "(c0) initial model: VAE trained on the demo frames, calibrated latents",
                       lambda: build_initial_model(model_config, demos, config.calibration_images, config.seed,
                                                   config.vae_pretrain).save_pretrained(init)))
    stages.append(("train_policy", "(c) train the policy on demos", lambda: train(
        config.policy_train_config, demo_roots, init, work / "train_policy", config)))
    if config.num_rollouts:
        stages += [
            ("rollouts", "(d1) early-policy rollouts", lambda: _report(progress, "rollouts", collect_rollouts(
                config, policy, work / "bags" / "rollouts", work / "logs", progress))),
            ("convert_rollouts", "(d2) convert rollouts", lambda: convert(
                work / "bags" / "rollouts", rollouts, config, image_size)),
            ("train_planning", "(d3) planning fine-tune", lambda: train(
                config.planning_train_config, [*demo_roots, rollouts], policy, work / "train_planning", config)),
        ]
    destination = DemoConfig.resolve(config.output_checkpoint)

    def write() -> None:
        write_checkpoint(final, destination)
        if separate_planner:
            write_checkpoint(planning, DemoConfig.resolve(config.output_planning_checkpoint))
    stages.append(("write", "(e) write the checkpoint(s)", write))
    try:
        for key, name, stage in stages:
            timer.run(key, name, stage)
    except StopAfterStage:
        progress(f"[retrain] stopped after stage {until}")
        return None
    stage_s = {key: float((work / f"{key}.done").read_text(encoding="utf-8")) for key, _, _ in stages}
    progress(f"[retrain] checkpoint {destination}; stages took {sum(stage_s.values()):.0f} s in all: "
             + ", ".join(f"{k} {v:.0f} s" for k, v in stage_s.items()))
    return destination


def _report(progress: Progress, what: str, results: list[EpisodeResult]) -> None:
    progress(f"[retrain] {what}: {sum(r.success for r in results)}/{len(results)} successful")
