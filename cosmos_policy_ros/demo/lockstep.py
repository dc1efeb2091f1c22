# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy demo --lockstep``: the demo's policy episodes in one process, sim time frozen
while the policy decides, so the outcome does not depend on how fast the CPU/GPU infers.

The graph demo runs the sim on ``/clock`` at a real-time factor: which observation a decision sees
depends on how long the previous one took. Here the same components run in one loop, in the order
the nodes run them, with zero sim time spent inferring:

* sim (``sim_arm``): :class:`SimSession` steps at the node's joint-state period; camera frames are
  due at ``camera_rate_hz`` (:class:`OutputRates`, the node's rule); trajectories go to the follower
  at their stamp, as ``trajectory_to_command`` hands them over.
* policy (``policy_node``): the newest frame and joint state per topic in :class:`LatestMessages`;
  a decision starts when :class:`InferenceSchedule` says so and every topic has a new message, on
  the assembled observation (stamp = its oldest part), with the node's seed per decision
  (:meth:`PolicyRunner.decision_seed`) and its value gate; the chunk is "published" at the sim time
  the decision started. The planner's time budget is unlimited: a frozen clock has no deadline,
  so plan-and-select always scores all N candidates.
* arbiter (``command_arbiter``): :meth:`Arbiter.from_settings` with the node's defaults and the
  demo's ``start_mode: hold``; joint states every step, the watchdog at its period.
* episode (``demo/episode_runner.py``): HOLD, reset with the seed, the first fresh chunk, POLICY,
  until the task's END or ``time_limit_s`` of sim time after POLICY began.

One policy runner, arbiter and sim per setting, and the decision counter runs on across episodes,
as in the node. The hand-off episode and teleop need an operator's timing and are not run.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch

# --- components (experiments/layout_move/ maps these names onto older layouts) ---
from cosmos_policy_ros.control.arbitration import Arbiter, Command, PolicyChunk
from cosmos_policy_ros.control.modes import Mode
from cosmos_policy_ros.control.watchdog import WATCHDOG_PERIOD_S, ValueGate
from cosmos_policy_ros.demo.episode_runner import EpisodeConfig, EpisodeResult
from cosmos_policy_ros.demo.setting import Setting
from cosmos_policy_ros.presets import RobotPreset, load_preset
from cosmos_policy_ros.serving.camera_input import model_image
from cosmos_policy_ros.serving.inference_schedule import InferenceSchedule, ScheduleConfig
from cosmos_policy_ros.serving.observation import LatestMessages, ObservationLimits
from cosmos_policy_ros.serving.policy_runner import WARMUP_INSTRUCTION, ModelSource, PolicyRunner, load_runner
from cosmos_policy_ros.sim.arm_sim import ArmSim
from cosmos_policy_ros.sim.scene import build_scene_config
from cosmos_policy_ros.sim.session import JOINT_STATE_RATE_HZ, OutputRates, SimSession
from cosmos_policy_ros.sim.tasks import Outcome, TaskConfig
from cosmos_policy_ros.sim.trajectory_follower import FollowerConfig, TrajectoryCommand
# --- end components ---

JOINT_STATE_PERIOD_S = 1.0 / JOINT_STATE_RATE_HZ  # sim_arm's default joint-state period: the loop's step
TORCH_THREADS = 1  # a fixed thread count: the same sums in the same order on every machine
# No global torch seed: every decision's noise comes from its own seed (PolicyRunner.decision_seed).


def fix_torch_threads() -> None:
    """One fixed thread count, so two runs (on any machine) compute bit-identical chunks."""
    torch.set_num_threads(TORCH_THREADS)


def sim_command(command: Command) -> TrajectoryCommand:
    """An arbiter command as the sim's follower receives it (the JointTrajectory's content)."""
    trajectory = command.trajectory
    return TrajectoryCommand(tuple(command.joint_names), np.asarray(trajectory.times_from_start_s),
                             np.asarray(trajectory.positions), trajectory.point_velocities())


class LockstepEpisodes:
    """The policy episodes of one :class:`Setting` on a frozen clock (``EpisodeRunner``'s
    ``warm_up``/``policy_episode``, so the demo's episode loop drives either)."""

    def __init__(self, setting: Setting, config: EpisodeConfig) -> None:
        self.setting, self.config = setting, config
        self.preset: RobotPreset = load_preset(setting.preset)
        source = ModelSource(checkpoint=setting.checkpoint, num_candidates=setting.num_candidates,
                             planning_mode=setting.planning_mode, planning_checkpoint=setting.planning_checkpoint)
        self.runner: PolicyRunner = load_runner(source, self.preset)
        urdf_xml = Path(self.preset.urdf_path).read_text(encoding="utf-8")
        self.arbiter = Arbiter.from_settings(self.preset, urdf_xml, start_mode=Mode.HOLD)
        cameras = tuple((c.name, c.height, c.width) for c in self.preset.cameras)
        self.session = SimSession(ArmSim(build_scene_config(cameras, setting.scene), FollowerConfig()),
                                  TaskConfig.for_scene(setting.scene))
        self.rates = OutputRates({"camera": setting.camera_rate_hz}, 0.0)
        self.gate = ValueGate()
        self.sequence = 0  # decisions so far (the node's chunk sequence)

    def warm_up(self, seed: int) -> None:
        """The node's warm-up inference on a blank observation (``seed``: unused, no scene needed)."""
        self.runner.warm_up(self.preset, WARMUP_INSTRUCTION)

    def policy_episode(self, seed: int, record: bool = False) -> EpisodeResult:
        """HOLD, reset to scene ``seed``, POLICY after the first fresh chunk, until END or the limit."""
        if record:
            raise ValueError("lockstep episodes are not recorded")
        session, arbiter, preset = self.session, self.arbiter, self.preset
        self._send(arbiter.request_mode(Mode.HOLD, "episode reset", session.stamp_s)[1])
        reset_s = session.stamp_s  # sim-time epoch: stamps never run backwards across resets
        episode = session.reset(self.config.task, seed, reset_s)
        self.rates.restart(reset_s)
        topics = tuple(c.topic for c in preset.cameras) + (preset.joint_states_topic,)
        latest, used = LatestMessages(topics), {}
        schedule = InferenceSchedule(ScheduleConfig(horizon_s=preset.execute_steps * preset.dt_s))
        result = EpisodeResult(kind="policy", seed=seed, instruction=episode.instruction, success=False,
                               duration_s=0.0)
        misses_before, mode = arbiter.deadline_misses, None
        limit_s, next_tick_s, outcome = math.inf, reset_s, Outcome.RUNNING
        while outcome is Outcome.RUNNING and session.stamp_s < limit_s - 1e-9:
            ended = session.step(JOINT_STATE_PERIOD_S)
            now_s = session.stamp_s
            q, v = session.sim.joint_positions(), session.sim.joint_velocities()
            arbiter.on_joint_state(now_s, session.sim.joint_names, q, v, now_s)
            latest.store(preset.joint_states_topic, q, now_s)
            result.joints.append((now_s - reset_s, dict(zip(session.sim.joint_names, q.tolist()))))
            if self.rates.due("camera", now_s):
                for camera in preset.cameras:
                    latest.store(camera.topic, session.sim.render(camera.name), now_s)
            if ended is not None:
                outcome = ended.outcome
            if now_s >= next_tick_s - 1e-9:
                self._send(arbiter.on_tick(now_s))
                next_tick_s += WATCHDOG_PERIOD_S
            if now_s >= schedule.next_start_s() and latest.wait_for_new(used, 0.0):
                assembly = latest.assemble(now_s, ObservationLimits())
                used = assembly.counts or used
                if assembly.ok:
                    self._decide(assembly.messages, assembly.stamp_s, now_s, episode.instruction, schedule,
                                 result, reset_s)
                    if math.isinf(limit_s):  # the first fresh chunk: the policy takes over
                        self._send(arbiter.request_mode(Mode.POLICY, "policy episode", now_s)[1])
                        limit_s = now_s + self.config.time_limit_s
            if arbiter.modes.mode != mode:
                mode = arbiter.modes.mode
                result.modes.append((now_s - reset_s, mode.name))
        self._send(arbiter.request_mode(Mode.HOLD, "episode over", session.stamp_s)[1])
        result.success = outcome is Outcome.SUCCESS
        result.duration_s = session.stamp_s - reset_s
        result.deadline_misses = arbiter.deadline_misses - misses_before
        return result

    def _decide(self, messages: dict, stamp_s: float, now_s: float, instruction: str,
                schedule: InferenceSchedule, result: EpisodeResult, reset_s: float) -> None:
        """One decision on the assembled observation, handed to the arbiter at ``now_s``."""
        preset, runner = self.preset, self.runner
        images = {c.name: model_image(messages[c.topic], c) for c in preset.cameras}
        proprio = messages[preset.joint_states_topic]
        decision = runner.decide(images, proprio, instruction, runner.decision_seed(self.setting.policy_seed,
                                                                                      self.sequence), math.inf)
        dt_s = preset.dt_s
        chunk = PolicyChunk(stamp_s=stamp_s, action_names=tuple(runner.action_names),
                            actions=decision.actions.tolist(), dt_s=dt_s, value=float(decision.value),
                            model_name=runner.model_name, execute_steps=preset.execute_steps,
                            call_for_teleop=self.gate.calls_for_teleop(decision.value),
                            step_times_s=[k * dt_s for k in range(len(decision.actions))])
        schedule.on_published(stamp_s, now_s)
        self._send(self.arbiter.on_policy_chunk(chunk, now_s))
        self.sequence += 1
        if math.isfinite(decision.value):
            result.values.append((stamp_s - reset_s, float(decision.value)))
        result.inference_ms.append(decision.model_ms)
        plan = decision.plan
        result.planning_ms.append(plan.elapsed_ms)
        result.plans.append((stamp_s - reset_s, list(plan.values), plan.selected_index))

    def _send(self, commands: list[Command]) -> None:
        """The arbiter's controller commands to the sim (shadow ones go nowhere)."""
        for command in commands:
            if not command.shadow:
                self.session.command(sim_command(command), command.trajectory.stamp_s)

    def close(self) -> None:
        self.session.sim.close()
        self.runner.release()


def run_lockstep_setting(setting: Setting, config: EpisodeConfig,
                         episodes: Callable[[LockstepEpisodes], Iterable[EpisodeResult]]) -> list[EpisodeResult]:
    """Build the setting's components, run ``episodes(runner)`` (a generator of results), free them."""
    fix_torch_threads()
    runner = LockstepEpisodes(setting, config)
    try:
        return list(episodes(runner))
    finally:
        runner.close()
