# SPDX-License-Identifier: Apache-2.0
"""Closed-loop expert episodes without ROS, faster than real time.

The loop is the same one the nodes run over DDS: each control step the expert's joint targets
become a one-point trajectory due ``command_lead_s`` later (what ``expert_teleop_node`` sends),
the sim's trajectory follower tracks it, and the task judges the outcome.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosmos_policy_ros.sim.arm_sim import ArmSim
from cosmos_policy_ros.sim.expert import ExpertObservation, ScriptedExpert
from cosmos_policy_ros.sim.tasks import Episode, Outcome, Task
from cosmos_policy_ros.sim.trajectory_follower import TrajectoryCommand


@dataclass(frozen=True)
class EpisodeResult:
    """Outcome of one expert episode.

    Args:
        episode: the reset (task, seed, instruction, initial poses).
        outcome: SUCCESS or TIMEOUT.
        duration_s: sim time at the end.
        joint_targets: (T, 7) expert targets, one row per control step.
    """

    episode: Episode
    outcome: Outcome
    duration_s: float
    joint_targets: np.ndarray

    @property
    def success(self) -> bool:
        return self.outcome is Outcome.SUCCESS


def expert_observation(sim: ArmSim, episode: Episode) -> ExpertObservation:
    """The expert's view of ``sim``: measured joints and privileged target/bin poses."""
    return ExpertObservation(sim.joint_positions(), sim.body_pose(episode.target_block), sim.bin_pose())


def single_point_command(joint_names: tuple[str, ...], targets: np.ndarray, lead_s: float) -> TrajectoryCommand:
    """A trajectory with one point, due ``lead_s`` after receipt (a teleop step)."""
    positions = np.asarray(targets, dtype=np.float64)[None]  # (1, J)
    return TrajectoryCommand(tuple(joint_names), np.array([lead_s]), positions)


def run_expert_episode(sim: ArmSim, task: Task, expert: ScriptedExpert, seed: int) -> EpisodeResult:
    """Reset ``task`` with ``seed``, let ``expert`` act until success or the time limit."""
    episode = task.reset(sim, seed)
    expert.reset(seed)
    dt_s = expert.config.control_dt_s
    targets = []
    outcome = Outcome.RUNNING
    while outcome is Outcome.RUNNING:
        target = expert.act(expert_observation(sim, episode))
        targets.append(target)
        result = sim.command(single_point_command(sim.joint_names, target, expert.config.command_lead_s))
        if not result.accepted:
            raise RuntimeError(f"expert command rejected: {result.reason}")
        sim.step(dt_s)
        outcome = task.evaluate(sim, episode)
    return EpisodeResult(episode, outcome, sim.time_s, np.array(targets))
