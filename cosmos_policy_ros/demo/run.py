# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy demo`` with a checkpoint: K episodes with N=1, K with plan-and-select, one hand-off.

Both settings run the same seeded scenes (held out from training: seeds >= ``seed_offset``), so
they are compared scene by scene (exact McNemar), each rate with its Wilson 95 % interval.
Every number of the report is measured in this run.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from cosmos_policy_ros.demo.config import DemoConfig
from cosmos_policy_ros.demo.episode_runner import EpisodeConfig, EpisodeResult, EpisodeRunner
from cosmos_policy_ros.sim.replay import EpisodeRenderer
from cosmos_policy_ros.demo.report import (compare_paired, format_paired, format_table, plot_choices, plot_latency,
                                           plot_values, render_comparison, showcase_pair, summarize, value_auc,
                                           write_gif)
from cosmos_policy_ros.demo.setting import Setting, run_setting

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoOutcome:
    """What the demo measured (the machine-readable last line)."""

    task: str
    episodes: int
    success_n1: float
    success_plan: float
    value_auc: float

    def last_line(self) -> str:
        return (f"demo task={self.task} episodes={self.episodes} success_n1={self.success_n1:.2f} "
                f"success_plan={self.success_plan:.2f} value_auc={self.value_auc:.2f}")


def episode_config(config: DemoConfig) -> EpisodeConfig:
    return EpisodeConfig(task=config.task, time_limit_s=config.time_limit_s, handoff_at_s=config.handoff_at_s,
                         forced_threshold=config.forced_threshold)


def _policy_episodes(seeds: list[int], progress: Callable[[str], None], name: str,
                     handoff_seed: int | None) -> Callable[[EpisodeRunner], Iterator[EpisodeResult]]:
    def episodes(runner: EpisodeRunner) -> Iterator[EpisodeResult]:
        runner.warm_up(seeds[0])
        for index, seed in enumerate(seeds):
            result = runner.policy_episode(seed, record=False)
            progress(f"{name} episode {index + 1}/{len(seeds)} seed {seed}: "
                     f"{'success' if result.success else 'failure'} ({result.duration_s:.1f} s sim)")
            yield result
        if handoff_seed is not None:
            result = runner.handoff_episode(handoff_seed)
            progress(f"hand-off episode seed {handoff_seed}: modes "
                     f"{' -> '.join(_mode_sequence(result))}, {'success' if result.success else 'failure'}")
            yield result
    return episodes


def _mode_sequence(result: EpisodeResult) -> list[str]:
    sequence: list[str] = []
    for _, mode in result.modes:
        if not sequence or sequence[-1] != mode:
            sequence.append(mode)
    return sequence


def demo_settings(config: DemoConfig) -> tuple[Setting, Setting]:
    """The demo's two settings: the plain policy (N=1) and plan-and-select (N=num_candidates)."""
    preset, checkpoint = str(config.resolve(config.preset)), str(config.resolve(config.checkpoint))
    scene = config.resolve_optional(config.scene)
    plain = Setting("policy N=1", preset, config.real_time_factor_n1, config.camera_rate_hz, checkpoint,
                    num_candidates=1, planning_mode=config.planning_mode, policy_seed=config.seed, scene=scene)
    plan = Setting(f"plan-and-select N={config.num_candidates}", preset, config.real_time_factor_plan,
                   config.camera_rate_hz, checkpoint,
                   planning_checkpoint=config.resolve_optional(config.planning_checkpoint),
                   num_candidates=config.num_candidates, planning_mode=config.planning_mode,
                   policy_seed=config.seed, expert_speed_mps=config.handoff_expert_speed_mps, scene=scene)
    return plain, plan


def run_demo(config: DemoConfig, out_dir: Path, progress: Callable[[str], None] = print,
             lockstep: bool = False) -> DemoOutcome:
    """Run both settings (and, on the node graph, the hand-off); write the report into ``out_dir``.

    ``lockstep``: in this process with sim time frozen while the policy decides
    (:mod:`.lockstep`): deterministic, no hand-off episode.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    seeds, episodes = config.seeds(), episode_config(config)
    started = time.monotonic()
    plain, plan = demo_settings(config)
    handoff = None
    if lockstep:
        from cosmos_policy_ros.demo.lockstep import run_lockstep_setting
        plain_results = run_lockstep_setting(plain, episodes, _policy_episodes(seeds, progress, plain.name, None))
        plan_results = run_lockstep_setting(plan, episodes, _policy_episodes(seeds, progress, plan.name, None))
    else:
        plain_results = run_setting(plain, episodes, out_dir / "logs",
                                    _policy_episodes(seeds, progress, plain.name, handoff_seed=None))
        plan_results = run_setting(plan, episodes, out_dir / "logs",
                                   _policy_episodes(seeds, progress, plan.name, handoff_seed=seeds[0]))
        handoff, plan_results = plan_results[-1], plan_results[:-1]
    rows = [summarize(plain.name, plain_results), summarize(plan.name, plan_results)]
    # The planner's V(s') scores separate outcomes; the plain policy's own value (policy role,
    # trained on successful demos only, as upstream) is shown for comparison.
    auc, successes, failures = value_auc(plan_results)
    plain_auc, _, _ = value_auc(plain_results)
    paired = compare_paired(plain_results, plan_results)
    progress(format_table(rows))
    progress(format_paired(paired, plain.name, plan.name))
    progress(f"value AUC (episode mean of the selected chunks' V(s'), {successes} successes / {failures} "
             f"failures, held-out scenes): {auc:.3f}; plain policy's own value: {plain_auc:.3f}")
    files = ["latency_hist.png", "choices.png"]
    if handoff is not None:
        plot_values(handoff, plain_results + plan_results, out_dir / "value_over_time.png")
        files.insert(0, "value_over_time.png")
    plot_latency({plain.name: [x for r in plain_results for x in r.inference_ms],
                  plan.name: [x for r in plan_results for x in r.inference_ms]}, out_dir / "latency_hist.png")
    plot_choices(plain_results, plan_results, out_dir / "choices.png")
    renderer = EpisodeRenderer(plain.scene)
    shown = showcase_pair(plain_results, plan_results)
    write_gif(render_comparison(renderer, config.task, list(zip((plain.name, plan.name), shown)), config.gif_fps),
              out_dir / "episode.gif", config.gif_fps)
    files.append(f"episode.gif (seed {shown[0].seed}: {plain.name} | {plan.name})")
    if handoff is not None:
        write_gif(render_comparison(renderer, config.task, [("hand-off", handoff)], config.gif_fps),
                  out_dir / "handoff.gif", config.gif_fps)
        files.append("handoff.gif")
    _write_episodes_json(out_dir / "episodes.json", plain_results + plan_results + ([handoff] if handoff else []))
    progress(f"report in {out_dir}: {', '.join(files)}, episodes.json; "
             f"demo took {time.monotonic() - started:.0f} s")
    return DemoOutcome(config.task, config.episodes, rows[0].success_rate, rows[1].success_rate, auc)


def _write_episodes_json(path: Path, results: list[EpisodeResult]) -> None:
    rows = [{k: v for k, v in asdict(r).items() if k != "joints"} for r in results]
    path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
