# SPDX-License-Identifier: Apache-2.0
"""One running simulation as the sim node serves it: sim + task + episode on one stamp clock.

ROS-free. Message stamps are ``epoch_s + sim time``: in real-time mode the epoch is the ROS time
at reset (so stamps match the other nodes' wall clock), in sim-time mode (``/clock``) it is the
last stamp before the reset (so time never runs backwards across resets). Incoming trajectory
stamps are mapped back to sim time with the same epoch.
"""
from __future__ import annotations

from collections.abc import Mapping
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


JOINT_STATE_RATE_HZ = 100.0  # sim_arm publishes joint states (and steps physics) at this sim-time rate by default


class OutputRates:
    """When each periodic output of the sim (camera frames, object poses) is next due on the stamp
    clock: due at the episode's first stamp, then once per period; after a skip the schedule
    moves to the late stamp (the missed ones are not made up). The sim node and the lockstep demo
    share it.

    Args:
        rates_hz: output name -> rate in sim time [Hz] (<= 0: never due).
        start_s: the first stamp at which every output is due.
    """

    def __init__(self, rates_hz: Mapping[str, float], start_s: float) -> None:
        self.rates_hz = dict(rates_hz)
        self._next_due_s = dict.fromkeys(self.rates_hz, start_s)

    def restart(self, start_s: float) -> None:
        """Due again from ``start_s`` (a reset: a due time left in the past gave two frames one
        physics step apart)."""
        self._next_due_s = dict.fromkeys(self._next_due_s, start_s)

    def due(self, what: str, stamp_s: float) -> bool:
        """Whether ``what`` is due at ``stamp_s``; schedules the next one."""
        rate_hz = self.rates_hz[what]
        if rate_hz <= 0 or stamp_s + 1e-9 < self._next_due_s[what]:
            return False
        self._next_due_s[what] = max(self._next_due_s[what] + 1.0 / rate_hz, stamp_s)
        return True


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
