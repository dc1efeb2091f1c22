# SPDX-License-Identifier: Apache-2.0
"""One running simulation as the sim node serves it: sim + task + episode on one stamp clock.

ROS-free. Message stamps are ``epoch_s + sim time``: in real-time mode the epoch is the ROS time
at reset (so stamps match the other nodes' wall clock), in sim-time mode (``/clock``) it is the
last stamp before the reset (so time never runs backwards across resets). Incoming trajectory
stamps are mapped back to sim time with the same epoch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosmos_policy_ros.sim.arm_sim import ArmSim
from cosmos_policy_ros.sim.tasks import Episode, Outcome, Task, TaskConfig, make_task
from cosmos_policy_ros.sim.trajectory_follower import CommandResult, TrajectoryCommand


@dataclass(frozen=True)
class EpisodeEnd:
    """An episode just ended: how, and at which stamp."""

    episode: Episode
    outcome: Outcome
    stamp_s: float


class SimSession:
    """The sim node's state without ROS.

    Args:
        sim: the simulated arm.
        task_config: placement ranges and time limits of the tasks.
    """

    def __init__(self, sim: ArmSim, task_config: TaskConfig = TaskConfig()) -> None:
        self.sim = sim
        self.task_config = task_config
        self.task: Task | None = None
        self.episode: Episode | None = None
        self.epoch_s = 0.0
        self._ended: Outcome | None = None
        self._episode_count = 0

    @property
    def stamp_s(self) -> float:
        """Stamp of the current sim state [s]."""
        return self.epoch_s + self.sim.time_s

    @property
    def episode_id(self) -> str:
        if self.episode is None:
            return ""
        return f"{self.episode.task}-seed{self.episode.seed}-{self._episode_count}"

    def reset(self, task_name: str, seed: int, epoch_s: float, target: str = "") -> Episode:
        """Start a new episode of ``task_name`` drawn from ``seed`` (``target``: another target
        block in the same scene); stamps restart at ``epoch_s``.

        Raises:
            ValueError: unknown task name or target (the current episode is kept).
        """
        task = make_task(task_name, self.task_config)
        episode = task.reset(self.sim, seed, target)
        self.task, self.epoch_s, self.episode = task, epoch_s, episode
        self._ended = None
        self._episode_count += 1
        return self.episode

    def command(self, trajectory: TrajectoryCommand, stamp_s: float | None) -> CommandResult:
        """Hand a trajectory stamped ``stamp_s`` (None = start now) to the arm's follower."""
        start_s = None if stamp_s is None else stamp_s - self.epoch_s
        return self.sim.command(TrajectoryCommand(trajectory.joint_names, trajectory.times_from_start_s,
                                                  trajectory.positions, trajectory.velocities, start_s))

    def step(self, duration_s: float) -> EpisodeEnd | None:
        """Advance physics; returns the episode's end exactly once, when it happens."""
        self.sim.step(duration_s)
        if self.task is None or self.episode is None or self._ended is not None:
            return None
        outcome = self.task.evaluate(self.sim, self.episode)
        if outcome is Outcome.RUNNING:
            return None
        self._ended = outcome
        return EpisodeEnd(self.episode, outcome, self.stamp_s)

    def succeeded(self) -> bool:
        """Whether the episode ended in success or the task is solved right now."""
        if self._ended is Outcome.SUCCESS:
            return True
        if self.task is None or self.episode is None:
            return False
        return self.task.is_success(self.sim, self.episode)

    def object_poses(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(position (3,), quaternion wxyz (4,)) of target block, bin, other blocks (Episode order)."""
        if self.episode is None:
            return []
        return [(pose.position, pose.quaternion)
                for pose in (self.sim.body_pose(name) for name in self.episode.object_order)]
