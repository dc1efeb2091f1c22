# SPDX-License-Identifier: Apache-2.0
"""Closed-loop expert episodes without ROS, faster than real time.

The loop is the same one the nodes run over DDS: each control step the expert's joint targets
become a one-point trajectory due ``command_lead_s`` later (what ``expert_teleop_node`` sends),
the sim's trajectory follower tracks it, and the task judges the outcome.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cosmos_policy_ros.sim.arm_sim import ArmSim
from cosmos_policy_ros.sim.expert import ExpertObservation, ScriptedExpert
from cosmos_policy_ros.sim.tasks import Episode, Outcome, Task
from cosmos_policy_ros.sim.trajectory_follower import TrajectoryCommand


@dataclass(frozen=True)
class ExpertRollout:
    """One expert episode run in process: its outcome and what was recorded at each control tick.

    Args:
        episode: the reset (task, seed, instruction, initial poses).
        outcome: SUCCESS or TIMEOUT.
        duration_s: sim time at the end.
        joint_targets: (T, 7) expert targets, one row per control step.
        images: (T, n_cameras, H, W, 3) uint8 frames at each control tick (empty without cameras).
        proprio: (T, 7) measured joint positions at each tick.
        references: (T, 7) the follower's reference at each tick, after the step's command: the
            action a converted teleop bag holds (``data/align.py``).
    """

    episode: Episode
    outcome: Outcome
    duration_s: float
    joint_targets: np.ndarray
    images: np.ndarray
    proprio: np.ndarray
    references: np.ndarray

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


def run_expert_episode(sim: ArmSim, task: Task, expert: ScriptedExpert, seed: int,
                       cameras: Sequence[str] = (), time_limit_s: float | None = None,
                       target: str = "") -> ExpertRollout:
    """Reset ``task`` with ``seed`` (and ``target``, a block colour; "" = the seed's own), let
    ``expert`` act until success or the time limit (the task's, or ``time_limit_s`` when shorter);
    ``cameras`` are rendered at every tick."""
    episode = task.reset(sim, seed, target)
    expert.reset(seed)
    dt_s = expert.config.control_dt_s
    limit_s = episode.time_limit_s if time_limit_s is None else min(time_limit_s, episode.time_limit_s)
    targets, frames, proprio, references = [], [], [], []
    outcome = Outcome.RUNNING
    while outcome is Outcome.RUNNING and sim.time_s < limit_s - 1e-9:
        if cameras:
            frames.append(np.stack([sim.render(name) for name in cameras]))
        proprio.append(sim.joint_positions())
        target = expert.act(expert_observation(sim, episode))
        targets.append(target)
        result = sim.command(single_point_command(sim.joint_names, target, expert.config.command_lead_s))
        if not result.accepted:
            raise RuntimeError(f"expert command rejected: {result.reason}")
        references.append(sim.follower.sample(sim.time_s).positions)
        sim.step(dt_s)
        outcome = task.evaluate(sim, episode)
    if outcome is Outcome.RUNNING:
        outcome = Outcome.TIMEOUT
    return ExpertRollout(episode, outcome, sim.time_s, np.array(targets), np.array(frames, dtype=np.uint8),
                         np.array(proprio, dtype=np.float32), np.array(references, dtype=np.float32))
