# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy demo --retrain``: the demo checkpoint from scratch, with our own commands.

    (a) collect   scripted expert teleoperates through the arbiter (clean and perturbed runs),
                  recorder_node writes one bag per episode with its outcome
    (b) convert   ``cosmos-policy convert`` bags -> training set (64 px)
    (c) train     calibrated initial model (demo/model_init.py), ``cosmos-policy train`` on demos
    (d) roll out  the early policy on the node graph, recorded the same way; convert;
                  ``cosmos-policy train`` planning fine-tune on demos + rollouts
    (e) write     the final folder -> ``output_checkpoint``

Each stage prints its wall time. The converter and the trainer run as the user would run them
(``python -m cosmos_policy_ros.cli ...`` subprocesses, their progress bars on the terminal).
"""
from __future__ import annotations

import dataclasses
import difflib
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..core.config import CosmosPolicyConfig
from ..core.pretrained import CONFIG_FILE, STATISTICS_FILE, TEXT_FILE, WEIGHTS_FILE
from .config import CONFIG_DIR, DemoConfig
from .episodes import CLEAN_EXPERT, NOISY_EXPERT, EpisodeConfig, EpisodeResult, EpisodeRunner
from .model_init import build_initial_model
from .session import Setting, run_setting

DEFAULT_RETRAIN_CONFIG = CONFIG_DIR / "demo" / "retrain.yaml"
CHECKPOINT_FILES = (CONFIG_FILE, WEIGHTS_FILE, STATISTICS_FILE, TEXT_FILE)
TRAIN_FINAL_DIR = "final"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class RetrainConfig:
    """The pipeline's sizes (defaults: ``config/demo/retrain.yaml``).

    Args:
        task / preset / model_config: task, robot preset YAML, model sizes JSON.
        output_checkpoint: where the final checkpoint folder is written.
        seed: seeds scenes (demos use seeds from ``seed``, rollouts continue after them), init, training.
        num_demos / noisy_share / noise: teleop episodes, share of perturbed-expert episodes and
            the perturbation parameters (``expert_teleop`` ``noise.*``).
        collect_real_time_factor / collect_time_limit_s: sim pacing and episode limit of (a).
        camera_rate_hz: sim camera rate.
        calibration_images: observations used to calibrate the latent statistics.
        policy_train_config / planning_train_config: train YAMLs of (c) and (d).
        num_rollouts / rollout_real_time_factor / rollout_time_limit_s: early-policy rollouts of (d).
        step_overrides: extra ``field=value`` train overrides for both stages (tests: tiny budgets).
    """

    task: str = "reach"
    preset: str = "config/demo/sim_arm_64.yaml"
    model_config: str = "config/demo/model.json"
    output_checkpoint: str = "checkpoints/demo_reach"
    seed: int = 0
    num_demos: int = 160
    noisy_share: float = 0.4
    noise: dict[str, float] = field(default_factory=dict)
    collect_real_time_factor: float = 2.0
    collect_time_limit_s: float = 3.0
    camera_rate_hz: float = 10.0
    calibration_images: int = 64
    policy_train_config: str = "config/demo/train_policy.yaml"
    num_rollouts: int = 60
    rollout_real_time_factor: float = 0.5
    rollout_time_limit_s: float = 3.0
    planning_train_config: str = "config/demo/train_planning.yaml"
    step_overrides: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("num_demos", "calibration_images"):
            if getattr(self, name) < 1:
                raise ValueError(f"RetrainConfig.{name}={getattr(self, name)} must be >= 1")
        if self.num_rollouts < 0:
            raise ValueError(f"RetrainConfig.num_rollouts={self.num_rollouts} must be >= 0")
        if not 0.0 <= self.noisy_share <= 1.0:
            raise ValueError(f"RetrainConfig.noisy_share={self.noisy_share} must be in [0, 1]")

    @classmethod
    def from_yaml(cls, path: str | Path = DEFAULT_RETRAIN_CONFIG) -> "RetrainConfig":
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            hints = {k: difflib.get_close_matches(k, known, n=1) for k in unknown}
            raise ValueError(f"{path}: unknown field(s) {unknown}; did you mean {hints}?")
        if "step_overrides" in data:
            data["step_overrides"] = tuple(data["step_overrides"])
        return cls(**data)

    def expert_for(self, index: int) -> str:
        """Clean or perturbed expert for demo ``index`` (perturbed ones spread evenly)."""
        noisy_before = int(index * self.noisy_share)
        return NOISY_EXPERT if int((index + 1) * self.noisy_share) > noisy_before and self.noise else CLEAN_EXPERT


class StageTimer:
    """Prints each stage's start and wall time."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.times_s: dict[str, float] = {}

    def run(self, name: str, stage: Callable[[], object]) -> object:
        self.progress(f"[retrain] {name} ...")
        started = time.monotonic()
        result = stage()
        self.times_s[name] = time.monotonic() - started
        self.progress(f"[retrain] {name} done in {self.times_s[name]:.0f} s")
        return result


def _cli(*args: str) -> None:
    """Run ``cosmos-policy <args>`` as the user would (output on our terminal)."""
    subprocess.run([sys.executable, "-m", "cosmos_policy_ros.cli", *args], check=True)


def collect_demos(config: RetrainConfig, bags: Path, logs: Path, progress: Progress) -> list[EpisodeResult]:
    setting = Setting("collect", str(DemoConfig.resolve(config.preset)), config.collect_real_time_factor,
                      config.camera_rate_hz, record_dir=str(bags), noise=dict(config.noise))
    episodes = EpisodeConfig(task=config.task, time_limit_s=config.collect_time_limit_s)

    def run(runner: EpisodeRunner) -> Iterator[EpisodeResult]:
        for index in range(config.num_demos):
            expert = config.expert_for(index)
            result = runner.teleop_episode(config.seed + index, expert, record=True)
            progress(f"demo {index + 1}/{config.num_demos} ({expert}, seed {result.seed}): "
                     f"{'success' if result.success else 'failure'}")
            yield result
    return run_setting(setting, episodes, logs, run)


def collect_rollouts(config: RetrainConfig, checkpoint: Path, bags: Path, logs: Path,
                     progress: Progress) -> list[EpisodeResult]:
    setting = Setting("rollouts", str(DemoConfig.resolve(config.preset)), config.rollout_real_time_factor,
                      config.camera_rate_hz, checkpoint=str(checkpoint), record_dir=str(bags),
                      policy_seed=config.seed)
    episodes = EpisodeConfig(task=config.task, time_limit_s=config.rollout_time_limit_s)
    first_seed = config.seed + config.num_demos

    def run(runner: EpisodeRunner) -> Iterator[EpisodeResult]:
        runner.warm_up()
        for index in range(config.num_rollouts):
            result = runner.policy_episode(first_seed + index, record=True)
            progress(f"rollout {index + 1}/{config.num_rollouts} (seed {result.seed}): "
                     f"{'success' if result.success else 'failure'}")
            yield result
    return run_setting(setting, episodes, logs, run)


def convert(bags: Path, out: Path, config: RetrainConfig, image_size: int) -> None:
    _cli("convert", str(bags), str(out), "--preset", str(DemoConfig.resolve(config.preset)),
         "--image-size", str(image_size), "--seed", str(config.seed))


def train(config_path: str, data_roots: list[Path], init: Path, out: Path, config: RetrainConfig) -> Path:
    roots = "[" + ", ".join(str(r) for r in data_roots) + "]"
    overrides = [f"data_roots={roots}", f"output_dir={out}", f"init_checkpoint={init}", f"seed={config.seed}",
                 *config.step_overrides]
    _cli("train", "--config", str(DemoConfig.resolve(config_path)), *[a for o in overrides for a in ("--set", o)])
    return out / TRAIN_FINAL_DIR


def write_checkpoint(folder: Path, destination: Path) -> Path:
    """Copy the four files of a ``from_pretrained`` folder (nothing else) to ``destination``."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in CHECKPOINT_FILES:
        shutil.copy2(folder / name, destination / name)
    return destination


def retrain(config: RetrainConfig, work: Path, progress: Progress = print) -> Path:
    """Run stages (a)-(e) in ``work``; returns the written checkpoint folder."""
    timer = StageTimer(progress)
    model_config = CosmosPolicyConfig.from_json(DemoConfig.resolve(config.model_config))
    image_size = model_config.layout.image_height
    work = work.resolve()
    demos = timer.run("(a) collect teleop demos", lambda: collect_demos(
        config, work / "bags" / "demos", work / "logs", progress))
    progress(f"[retrain] demos: {sum(r.success for r in demos)}/{len(demos)} successful")
    timer.run("(b) convert demos", lambda: convert(work / "bags" / "demos", work / "demos", config, image_size))
    init = work / "init_model"
    timer.run("(c0) calibrated initial model", lambda: build_initial_model(
        model_config, work / "demos", config.calibration_images, config.seed).save_pretrained(init))
    policy = timer.run("(c) train the policy on demos", lambda: train(
        config.policy_train_config, [work / "demos"], init, work / "train_policy", config))
    final = policy
    if config.num_rollouts:
        rollouts = timer.run("(d1) early-policy rollouts", lambda: collect_rollouts(
            config, policy, work / "bags" / "rollouts", work / "logs", progress))
        progress(f"[retrain] rollouts: {sum(r.success for r in rollouts)}/{len(rollouts)} successful")
        timer.run("(d2) convert rollouts", lambda: convert(work / "bags" / "rollouts", work / "rollouts", config,
                                                           image_size))
        final = timer.run("(d3) planning fine-tune", lambda: train(
            config.planning_train_config, [work / "demos", work / "rollouts"], policy, work / "train_planning",
            config))
    destination = timer.run("(e) write the checkpoint", lambda: write_checkpoint(
        final, DemoConfig.resolve(config.output_checkpoint)))
    progress(f"[retrain] checkpoint {destination}; total {sum(timer.times_s.values()):.0f} s "
             + ", ".join(f"{k.split(')')[0]}) {v:.0f} s" for k, v in timer.times_s.items()))
    return destination
