# SPDX-License-Identifier: Apache-2.0
"""The ``twin`` task: two red-looking blocks, one near and one far; the expert goes to either.

Closed loop in process (the real sim, task and scripted expert; no ROS): the expert reaches the
near twin inside the demo's time limit and the far one only after it, which is what makes the
plain policy's coin flip between them a success or a failure (the policy is slower than the expert:
the demo's limit is set from its measured rollouts, docs/PLANNING_TASK.md).
"""
from __future__ import annotations

import numpy as np
import pytest

from cosmos_policy_ros.demo.config import DemoConfig
from cosmos_policy_ros.sim.arm_sim import ArmSim
from cosmos_policy_ros.sim.demonstrations import SimDemoConfig
from cosmos_policy_ros.sim.expert import ExpertConfig, ScriptedExpert
from cosmos_policy_ros.sim.kinematics import ArmKinematics
from cosmos_policy_ros.sim.replay import EpisodeRenderer, joint_positions_at
from cosmos_policy_ros.sim.rollout import run_expert_episode
from cosmos_policy_ros.sim.scene import BLOCK_COLOURS, COMMANDED_JOINTS, build_scene_config
from cosmos_policy_ros.sim.tasks import TWIN_COLOURS, TaskConfig, make_task

pytestmark = pytest.mark.sim
SCENE = DemoConfig.resolve("config/demo/scene_twin.yaml")
HOME_TOOL_XY = np.array([0.31, 0.0])  # the tool under HOME_POSITIONS (kinematics)


@pytest.fixture(scope="module")
def sim():
    arm = ArmSim(build_scene_config([("primary", 32, 32)], SCENE))
    yield arm
    arm.close()


def _near_far(episode) -> tuple[str, str]:
    distance = {c: np.linalg.norm(episode.initial_poses[f"{c}_block"].position[:2] - HOME_TOOL_XY)
                for c in TWIN_COLOURS}
    near = min(distance, key=distance.get)
    return near, next(c for c in TWIN_COLOURS if c != near)


def test_twin_scene_is_seeded_and_places_one_twin_near_and_one_far(sim):
    task = make_task("twin", TaskConfig.for_scene(SCENE))
    config = task.config
    experts, sides = set(), set()
    for seed in range(40):
        first = task.reset(sim, seed)
        again = task.reset(sim, seed)
        for body, pose in first.initial_poses.items():
            np.testing.assert_array_equal(again.initial_poses[body].position, pose.position)
        assert first.target_colour == again.target_colour and first.instruction == "touch the red block"
        near, far = _near_far(first)
        near_xy = first.initial_poses[f"{near}_block"].position[:2]
        far_xy = first.initial_poses[f"{far}_block"].position[:2]
        assert config.twin_near_x_m[0] <= near_xy[0] <= config.twin_near_x_m[1]
        assert abs(near_xy[1]) <= config.twin_near_abs_y_m[1]
        assert config.twin_far_x_m[0] <= far_xy[0] <= config.twin_far_x_m[1]
        assert config.twin_far_abs_y_m[0] <= abs(far_xy[1]) <= config.twin_far_abs_y_m[1]
        assert np.sign(first.initial_poses["bin"].position[1]) == -np.sign(far_xy[1])  # bin on the other side
        experts.add(first.target_colour == near)
        sides.add(float(np.sign(far_xy[1])))
    assert experts == {True, False} and sides == {-1.0, 1.0}  # the expert goes to either, far twin on either side


def test_near_and_far_targets_name_the_twins_by_where_they_stand(sim):
    task = make_task("twin", TaskConfig.for_scene(SCENE))
    for seed in range(20):
        near, far = _near_far(task.reset(sim, seed))
        assert task.reset(sim, seed, target="near").target_colour == near
        assert task.reset(sim, seed, target="far").target_colour == far


@pytest.mark.parametrize("far_share", [0.0, 0.75, 1.0])
def test_sim_demos_far_share_sends_that_share_of_experts_to_the_far_twin(sim, far_share):
    """The recipe's lever on the policy's two modes: what share of the demos go to the far twin."""
    config = SimDemoConfig(task="twin", episodes=200, seed=300000, far_share=far_share, scene=str(SCENE))
    task = make_task("twin", config.task_config())
    far = []
    for index in range(config.episodes):
        seed, target = config.episode_scene(index)  # what the generator's worker runs
        far.append(task.reset(sim, seed, target).target_colour == _near_far(task.reset(sim, seed))[1])
    assert abs(np.mean(far) - far_share) <= 0.07, np.mean(far)
    with pytest.raises(ValueError, match="far_share"):
        SimDemoConfig(task="reach", far_share=0.5)
    with pytest.raises(ValueError, match="far_share"):
        SimDemoConfig(task="twin", far_share=1.5, scene=str(SCENE))


def test_twin_scene_draws_both_twins_red_and_the_task_refuses_other_scenes(sim):
    red = sim.model.geom("red_block_geom").rgba
    np.testing.assert_array_equal(sim.model.geom("green_block_geom").rgba, red)
    assert not np.array_equal(sim.model.geom("blue_block_geom").rgba, red)
    plain = ArmSim(build_scene_config([("primary", 8, 8)], DemoConfig.resolve("config/demo/scene_32.yaml")))
    try:
        with pytest.raises(ValueError, match="block_paint"):
            make_task("twin").reset(plain, 0)
    finally:
        plain.close()
    with pytest.raises(ValueError, match="twin target"):
        make_task("twin").reset(sim, 0, target="blue")


def test_expert_reaches_the_near_twin_within_the_demo_limit_and_the_far_one_much_later(sim):
    task = make_task("twin", TaskConfig.for_scene(SCENE))
    limit_s = DemoConfig.from_yaml(DemoConfig.resolve("config/demo/demo_twin.yaml")).time_limit_s
    expert = ScriptedExpert("twin", ArmKinematics(), ExpertConfig())
    for seed in (3, 4):
        near, far = _near_far(task.reset(sim, seed))
        to_near = run_expert_episode(sim, task, expert, seed, time_limit_s=6.0, target=near)
        to_far = run_expert_episode(sim, task, expert, seed, time_limit_s=6.0, target=far)
        assert to_near.success and to_far.success  # both reachable: the demos teach both modes
        assert to_near.duration_s < limit_s and to_far.duration_s > to_near.duration_s + 1.0
        assert sim.gripper_touches(f"{far}_block")


def test_replay_poses_the_arm_from_joint_states_and_renders_a_readable_view():
    home = dict(zip(COMMANDED_JOINTS, [0.0, 0.25, 1.75, 1.1416, 0.0, 0.0, 0.04]))
    turned = {**home, "shoulder_pan_joint": 0.5}
    joints = [(0.5, turned), (0.0, home)]  # out of order on purpose: sorted by stamp
    table = joint_positions_at(joints, [-0.1, 0.2, 0.5, 2.0])
    np.testing.assert_array_equal(table[:, 0], [0.0, 0.0, 0.5, 0.5])
    with pytest.raises(ValueError, match="no joint states"):
        joint_positions_at([], [0.0])
    renderer = EpisodeRenderer(SCENE, size_px=96)
    try:
        still, moved = renderer.render("twin", 5, joints, [0.0, 1.0])
    finally:
        renderer.sim.close()
    assert still.shape == (96, 96, 3) and np.abs(still.astype(int) - moved.astype(int)).mean() > 1.0
    assert set(BLOCK_COLOURS) >= set(TWIN_COLOURS)
