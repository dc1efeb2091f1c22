# SPDX-License-Identifier: Apache-2.0
"""Demo report maths and configs (ROS-free, fast)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from cosmos_policy_ros.demo.config import DemoConfig
from cosmos_policy_ros.demo.episode_runner import EpisodeConfig, EpisodeResult
from cosmos_policy_ros.demo.pipeline import CLEAN_EXPERT, NOISY_EXPERT, RetrainConfig
from cosmos_policy_ros.demo.report import format_table, summarize, value_auc, write_gif
from cosmos_policy_ros.demo.run import DemoOutcome


def _result(success: bool, values: list[float], inference_ms: list[float] = (), planning_ms: list[float] = (),
            misses: int = 0) -> EpisodeResult:
    return EpisodeResult("policy", 0, "touch the red block", success, 1.0,
                         values=[(0.1 * i, v) for i, v in enumerate(values)], inference_ms=list(inference_ms),
                         planning_ms=list(planning_ms), deadline_misses=misses)


def test_value_auc_scores_episodes_by_mean_value_and_skips_episodes_without_chunks():
    results = [_result(True, [0.9, 0.8]), _result(False, [0.2, 0.3]), _result(True, [0.6]), _result(False, [])]
    auc, successes, failures = value_auc(results)
    assert (auc, successes, failures) == (1.0, 2, 1)


def test_summary_and_table_report_measured_numbers():
    results = [_result(True, [0.9], [100.0, 300.0], [250.0], misses=1), _result(False, [0.1], [200.0], [350.0])]
    row = summarize("plan N=8", results)
    assert (row.episodes, row.successes, row.success_rate, row.deadline_misses) == (2, 1, 0.5, 1)
    assert row.mean_inference_ms == pytest.approx(200.0) and row.mean_planning_ms == pytest.approx(300.0)
    table = format_table([row])
    assert "plan N=8" in table and "0.50" in table
    assert math.isnan(summarize("none", [_result(True, [])]).mean_planning_ms)


def test_last_line_format():
    line = DemoOutcome("reach", 20, 0.85, 0.9, 0.8123).last_line()
    assert line == "demo task=reach episodes=20 success_n1=0.85 success_plan=0.90 value_auc=0.81"


def test_gif_written_from_frames(tmp_path):
    frames = [np.full((8, 8, 3), i * 20, dtype=np.uint8) for i in range(5)]
    path = write_gif(frames, tmp_path / "e.gif", fps=10)
    import imageio.v2 as imageio
    assert len(imageio.mimread(path)) == 5
    assert write_gif([], tmp_path / "none.gif", fps=10) is None


def test_configs_validate_and_load_the_shipped_yaml():
    config = DemoConfig.from_yaml()
    assert config.episodes >= 20 and config.seeds()[0] >= config.seed_offset
    assert config.replace(seed=3).seeds()[0] == config.seed_offset + 3
    with pytest.raises(ValueError, match="episodes"):
        DemoConfig(episodes=0)
    with pytest.raises(ValueError, match="planning_mode"):
        DemoConfig(planning_mode="best")
    with pytest.raises(ValueError, match="handoff_at_s"):
        EpisodeConfig(time_limit_s=1.0, handoff_at_s=2.0)
    retrain = RetrainConfig.from_yaml()
    assert retrain.num_demos >= 1 and retrain.noise


def test_perturbed_demos_are_spread_evenly_at_the_configured_share():
    config = RetrainConfig(noisy_share=0.4, noise={"action_noise_rad": 0.03})
    experts = [config.expert_for(i) for i in range(100)]
    assert experts.count(NOISY_EXPERT) == 40
    assert NOISY_EXPERT in experts[:5] and CLEAN_EXPERT in experts[:5]
    assert set(RetrainConfig(noisy_share=0.4).expert_for(i) for i in range(10)) == {CLEAN_EXPERT}


def test_demos_of_one_scene_reach_each_block_in_turn():
    assert [RetrainConfig(seed=5).demo_scene(i) for i in range(2)] == [(5, ""), (6, "")]
    config = RetrainConfig(seed=5, targets_per_scene=3, scene="")  # the default scene: every colour a target
    scenes = [config.demo_scene(i) for i in range(6)]
    assert [seed for seed, _ in scenes] == [5, 5, 5, 6, 6, 6]
    assert {t for _, t in scenes[:3]} == {t for _, t in scenes[3:]} == {"red", "green", "blue"}
    assert scenes[0][1] != scenes[3][1]  # the first target rotates, so no colour comes first always
    with pytest.raises(ValueError, match="targets_per_scene"):
        RetrainConfig(targets_per_scene=4, scene="")


def test_demo_targets_are_the_scene_files_colours(tmp_path):
    scene = tmp_path / "scene.yaml"
    scene.write_text("target_colours: [blue, red]\n")
    config = RetrainConfig(seed=5, targets_per_scene=2, scene=str(scene))
    assert [config.demo_scene(i) for i in range(4)] == [(5, "blue"), (5, "red"), (6, "red"), (6, "blue")]
    with pytest.raises(ValueError, match=r"targets_per_scene=3 must be in \[1, 2\]"):
        RetrainConfig(targets_per_scene=3, scene=str(scene))
