# SPDX-License-Identifier: Apache-2.0
"""Runs in a commit's worktree: HEAD's lockstep runner (``lockstep_runner.py``) on that commit's
``cosmos-policy demo`` defaults (task, episodes, seed from its config/demo/demo.yaml); prints the
demo's progress and last line, writes the episodes as JSON. Written against HEAD's modules;
compare.py rewrites its imports for an older layout as it does the runner's."""
from __future__ import annotations

import json
import sys
import time

import cosmos_policy_ros
from cosmos_policy_ros.demo.config import DemoConfig
from cosmos_policy_ros.demo.episode_runner import EpisodeConfig
from cosmos_policy_ros.demo.report import summarize, value_auc
from cosmos_policy_ros.demo.run import DemoOutcome
from cosmos_policy_ros.demo.setting import Setting
from lockstep_runner import run_lockstep_setting


def main(out_path: str) -> None:
    print(f"package: {cosmos_policy_ros.__file__}", flush=True)  # the commit's, not the venv's
    config = DemoConfig.from_yaml()
    started = time.monotonic()
    preset, checkpoint = str(config.resolve(config.preset)), str(config.resolve(config.checkpoint))
    scene = str(config.resolve(config.scene)) if config.scene else ""
    settings = [Setting("policy N=1", preset, config.real_time_factor_n1, config.camera_rate_hz, checkpoint,
                        num_candidates=1, planning_mode=config.planning_mode, policy_seed=config.seed, scene=scene),
                Setting(f"plan-and-select N={config.num_candidates}", preset, config.real_time_factor_plan,
                        config.camera_rate_hz, checkpoint, num_candidates=config.num_candidates,
                        planning_mode=config.planning_mode, policy_seed=config.seed, scene=scene)]
    episode_config = EpisodeConfig(task=config.task, time_limit_s=config.time_limit_s,
                                   handoff_at_s=config.handoff_at_s, forced_threshold=config.forced_threshold)
    seeds, results = config.seeds(), {}
    for setting in settings:
        def episodes(runner, name=setting.name):
            runner.warm_up(seeds[0])
            for index, seed in enumerate(seeds):
                result = runner.policy_episode(seed)
                print(f"{name} episode {index + 1}/{len(seeds)} seed {seed}: "
                      f"{'success' if result.success else 'failure'} ({result.duration_s:.1f} s sim)", flush=True)
                yield result
        results[setting.name] = run_lockstep_setting(setting, episode_config, episodes)
    plain, plan = (results[s.name] for s in settings)
    auc, _, _ = value_auc(plan)
    line = DemoOutcome(config.task, config.episodes, summarize("plain", plain).success_rate,
                       summarize("plan", plan).success_rate, auc).last_line()
    rows = [{"setting": name, "seed": r.seed, "success": r.success, "duration_s": r.duration_s,
             "values": r.values, "plans": r.plans, "modes": r.modes}
            for name, rs in results.items() for r in rs]
    seconds = time.monotonic() - started
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump({"last_line": line, "seconds": seconds, "episodes": rows}, f)
    print(f"lockstep took {seconds:.0f} s")
    print(line)


if __name__ == "__main__":
    main(sys.argv[1])
