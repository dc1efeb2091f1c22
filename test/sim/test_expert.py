# SPDX-License-Identifier: Apache-2.0
"""Scripted expert on the sim, ROS-free and faster than real time: success rates, determinism."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cosmos_policy_ros.control.arbitration import Arbiter
from cosmos_policy_ros.control.modes import Mode
from cosmos_policy_ros.presets import load_preset
from cosmos_policy_ros.sim.arm_sim import ArmSim
from cosmos_policy_ros.sim.expert import ExpertConfig, ScriptedExpert
from cosmos_policy_ros.sim.kinematics import ArmKinematics, downward_pose
from cosmos_policy_ros.sim.rollout import expert_observation, run_expert_episode
from cosmos_policy_ros.sim.tasks import Outcome, TaskConfig, make_task
from cosmos_policy_ros.sim.trajectory_follower import TrajectoryCommand

pytestmark = pytest.mark.sim
EPISODES_PER_TASK = 20
REQUIRED_SUCCESS_RATE = {"reach": 0.95, "pick_place": 0.90}
IGNORED_FOR_S = 1.5  # the arbiter holds (ignores teleop) this long before it switches to TELEOP


@pytest.fixture(scope="module")
def sim():
    arm = ArmSim()
    yield arm
    arm.close()


@pytest.fixture(scope="module")
def kinematics():
    return ArmKinematics()


def test_ik_reaches_table_poses(kinematics):
    seed = np.array([0.0, 0.25, 1.75, 1.14, 0.0, 0.0])
    for position in ([0.45, 0.2, 0.02], [0.26, -0.2, 0.02], [0.35, 0.26, 0.17]):
        target = downward_pose(np.array(position), yaw_rad=np.pi)
        result = kinematics.solve(target, seed)
        assert result.position_error_m < 1e-3 and result.rotation_error_rad < 1e-2
        np.testing.assert_allclose(kinematics.forward(result.joint_positions).position, position, atol=1e-3)


@pytest.mark.slow
def test_expert_success_table(sim, kinematics, capsys):
    rows = []
    for name, required in REQUIRED_SUCCESS_RATE.items():
        task, expert = make_task(name), ScriptedExpert(name, kinematics)
        results = [run_expert_episode(sim, task, expert, seed) for seed in range(EPISODES_PER_TASK)]
        successes = sum(r.success for r in results)
        mean_duration_s = np.mean([r.duration_s for r in results])
        rows.append((name, successes, mean_duration_s, required))
    with capsys.disabled():
        print(f"\n{'task':<12}{'success':>10}{'rate':>8}{'mean time [s]':>16}")
        for name, successes, duration_s, _ in rows:
            print(f"{name:<12}{successes:>7}/{EPISODES_PER_TASK}{successes / EPISODES_PER_TASK:>8.0%}"
                  f"{duration_s:>16.1f}")
    for name, successes, _, required in rows:
        assert successes / EPISODES_PER_TASK >= required, name


def test_same_seed_same_scene_and_same_expert_trajectory(sim, kinematics):
    config = ExpertConfig(action_noise_rad=0.01, detour_probability=0.5, wrong_grasp_probability=0.5)
    task = make_task("pick_place", TaskConfig(pick_place_time_limit_s=4.0))
    runs = [run_expert_episode(sim, task, ScriptedExpert("pick_place", kinematics, config), seed=11)
            for _ in range(2)]
    assert runs[0].episode.instruction == runs[1].episode.instruction
    for body, pose in runs[0].episode.initial_poses.items():
        np.testing.assert_array_equal(pose.position, runs[1].episode.initial_poses[body].position)
    np.testing.assert_array_equal(runs[0].joint_targets, runs[1].joint_targets)
    other = run_expert_episode(sim, task, ScriptedExpert("pick_place", kinematics, config), seed=12)
    assert other.joint_targets.shape != runs[0].joint_targets.shape or not np.allclose(
        other.joint_targets, runs[0].joint_targets)


def test_perturbations_vary_and_can_fail_demos(sim, kinematics):
    task = make_task("reach", TaskConfig(reach_time_limit_s=6.0))
    clean = run_expert_episode(sim, task, ScriptedExpert("reach", kinematics), seed=3)
    noisy_config = ExpertConfig(action_noise_rad=0.02, detour_probability=1.0)
    noisy = run_expert_episode(sim, task, ScriptedExpert("reach", kinematics, noisy_config), seed=3)
    assert clean.success
    assert noisy.joint_targets.shape != clean.joint_targets.shape or not np.allclose(
        noisy.joint_targets, clean.joint_targets)
    stop_config = dataclasses.replace(ExpertConfig(), early_stop_probability=1.0)
    stopped = [run_expert_episode(sim, task, ScriptedExpert("reach", kinematics, stop_config), seed=s)
               for s in range(3)]
    assert all(r.outcome is Outcome.TIMEOUT for r in stopped)


def test_expert_config_is_validated():
    with pytest.raises(ValueError, match="detour_probability"):
        ExpertConfig(detour_probability=1.5)
    with pytest.raises(ValueError, match="unknown task"):
        make_task("pick_n_place")


def _arbiter_for(preset_name: str) -> Arbiter:
    """The command arbiter's logic as the node builds it with its default parameters."""
    preset = load_preset(preset_name)
    return Arbiter.from_settings(preset, preset.urdf_path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("delay_s", [0.02, 0.15])
def test_expert_commands_pass_the_arbiter_after_transport_delay_and_a_hold(sim, kinematics, delay_s):
    """The expert as a teleop device behind the real arbiter checks: its commands arrive ``delay_s``
    late, are ignored while the arbiter HOLDs, and then every one of them passes (no jump, no
    limit violation) and the task is solved."""
    preset = load_preset("sim_arm")
    config = ExpertConfig(max_target_offset_rad=0.5 * preset.max_joint_jump_rad)
    arbiter, task = _arbiter_for("sim_arm"), make_task("reach")
    for seed in range(2):
        episode, expert = task.reset(sim, seed), ScriptedExpert("reach", kinematics, config)
        expert.reset(seed)
        arbiter.request_mode(Mode.HOLD, "ignore teleop", sim.time_s)
        outcome, passed = Outcome.RUNNING, 0
        while outcome is Outcome.RUNNING:
            sent_s = sim.time_s
            arbiter.on_joint_state(sent_s, preset.joints, sim.joint_positions(), sim.joint_velocities())
            if sent_s >= IGNORED_FOR_S and arbiter.modes.mode == Mode.HOLD:
                arbiter.request_mode(Mode.TELEOP, "teleop", sent_s)
            target = expert.act(expert_observation(sim, episode))
            sim.step(delay_s)
            commands = arbiter.on_teleop_trajectory(preset.joints, [target], [config.command_lead_s], sent_s,
                                                    sim.time_s)
            for command in commands:
                trajectory = command.trajectory
                assert sim.command(TrajectoryCommand(preset.joints, trajectory.times_from_start_s,
                                                     trajectory.positions, start_time_s=trajectory.stamp_s)).accepted
            passed += len(commands)
            sim.step(config.control_dt_s - delay_s)
            outcome = task.evaluate(sim, episode)
        assert arbiter.rejected_teleop == 0, arbiter.reason
        assert passed > 0 and outcome is Outcome.SUCCESS
