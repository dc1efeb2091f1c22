# SPDX-License-Identifier: Apache-2.0
"""The twin demo's wiring (ROS-free, fast): per-task configs, the recipe's stages, the separate
planning checkpoint, the paired statistics and the choice picture of the report."""
from __future__ import annotations

import pytest

from cosmos_policy_ros.demo.config import DemoConfig, task_config_file
from cosmos_policy_ros.demo.episode_runner import EpisodeResult
from cosmos_policy_ros.demo.pipeline import RetrainConfig, retrain
from cosmos_policy_ros.demo.report import (compare_paired, format_paired, format_table, plot_choices, showcase_pair,
                                           summarize)
from cosmos_policy_ros.demo.setting import Setting


def _episode(seed: int, success: bool, plans=()) -> EpisodeResult:
    return EpisodeResult("policy", seed, "touch the red block", success, 2.0, values=[(0.1, 0.5)],
                         plans=list(plans))


def test_each_task_has_its_demo_and_retrain_config():
    assert task_config_file("demo", "reach").name == "demo.yaml"
    twin = DemoConfig.from_yaml(task_config_file("demo", "twin"))
    assert twin.task == "twin" and twin.episodes >= 40 and twin.planning_checkpoint
    assert "scene_twin" in twin.scene
    recipe = RetrainConfig.from_yaml(task_config_file("retrain", "twin"))
    assert recipe.task == "twin" and recipe.init_checkpoint and recipe.output_planning_checkpoint
    assert recipe.rollout_time_limit_s == twin.time_limit_s  # rollouts are labelled as the demo judges
    with pytest.raises(ValueError, match="tasks with one"):
        task_config_file("demo", "pick_place")


def test_recipe_without_teleop_demos_needs_sim_demos_and_an_initial_checkpoint():
    with pytest.raises(ValueError, match="num_demos"):
        RetrainConfig(num_demos=0, sim_demos=10)
    with pytest.raises(ValueError, match="num_demos"):
        RetrainConfig(num_demos=0, init_checkpoint="checkpoints/demo_reach")
    RetrainConfig(num_demos=0, sim_demos=10, init_checkpoint="checkpoints/demo_reach")


def test_twin_recipe_starts_from_the_reach_checkpoint_without_collecting_or_a_new_vae(tmp_path):
    recipe = RetrainConfig.from_yaml(task_config_file("retrain", "twin"))
    for stage in ("sim_demos", "train_policy"):  # pretend (a2) and (c) finished; stop after (c)
        (tmp_path / f"{stage}.done").write_text("1.0\n")
    messages: list[str] = []
    assert retrain(recipe, tmp_path, messages.append, until="train_policy") is None
    assert [m.split(":")[0] for m in messages[:2]] == ["[retrain] (a2) scripted-expert sim demos, no ROS",
                                                       "[retrain] (c) train the policy on demos"]
    assert not any("(a) collect" in m or "(c0)" in m for m in messages)


def test_plan_setting_passes_the_planning_checkpoint_to_policy_node():
    plan = Setting("plan", "preset.yaml", 0.5, 10.0, "/policy", planning_checkpoint="/planner", num_candidates=8)
    assert plan.graph_options().params["policy_node"]["planning_checkpoint"] == "/planner"
    plain = Setting("n1", "preset.yaml", 0.5, 10.0, "/policy", num_candidates=1)
    assert "planning_checkpoint" not in plain.graph_options().params["policy_node"]


def test_report_pairs_scenes_and_shows_intervals(tmp_path):
    plain = [_episode(s, ok) for s, ok in zip(range(6), [True, False, False, True, False, False])]
    plan = [_episode(s, ok, [(0.1, [0.2, 0.9, 0.4], 1)]) for s, ok in zip(range(6), [True, True, True, False,
                                                                                     True, False])]
    paired = compare_paired(plain, plan)
    assert (paired.both, paired.only_a, paired.only_b, paired.neither) == (1, 1, 3, 1)
    assert paired.p_value == pytest.approx(2 * (1 + 4) / 16)
    assert "McNemar p = 0.6250" in format_paired(paired, "N=1", "plan")
    table = format_table([summarize("N=1", plain)])
    assert "[0.10, 0.70]" in table  # Wilson 2/6
    assert showcase_pair(plain, plan)[0].seed == 1  # first scene plan solved and N=1 did not
    assert plot_choices(plain, plan, tmp_path / "choices.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="same seeds"):
        compare_paired(plain, plan[::-1])


def test_comparison_gif_shows_each_outcome_on_its_last_frame():
    from cosmos_policy_ros.demo.report import OVERLAY_FONT_PX, render_comparison
    from cosmos_policy_ros.sim.replay import EpisodeRenderer
    home = {"shoulder_pan_joint": 0.0, "shoulder_lift_joint": 0.25, "elbow_joint": 1.75, "wrist_1_joint": 1.1416,
            "wrist_2_joint": 0.0, "wrist_3_joint": 0.0, "gripper_joint": 0.04}
    short = EpisodeResult("policy", 7, "touch the red block", True, 0.45, joints=[(0.0, home)])
    long = EpisodeResult("policy", 7, "touch the red block", False, 0.75, joints=[(0.0, home)])
    renderer = EpisodeRenderer(DemoConfig.resolve("config/demo/scene_twin.yaml"), size_px=120)
    try:
        frames = render_comparison(renderer, "twin", [("N=1", long), ("plan", short)], fps=10)
    finally:
        renderer.sim.close()
    assert len(frames) == 8 and frames[0].shape == (120, 240, 3)
    row = slice(2 + 3 * (OVERLAY_FONT_PX + 3), 2 + 4 * (OVERLAY_FONT_PX + 3))  # the outcome line

    def outcome_shown(frame, column: int) -> bool:  # the overlay's black box reaches the outcome line
        return bool((frame[row, column * 120:(column + 1) * 120].max(axis=-1) < 30).mean() > 0.5)
    assert not outcome_shown(frames[0], 0) and not outcome_shown(frames[0], 1)
    assert outcome_shown(frames[5], 1) and not outcome_shown(frames[5], 0)  # the short one ended at 0.45 s
    assert outcome_shown(frames[-1], 0)  # the longest one's last frame (0.7 s < 0.75 s) too
