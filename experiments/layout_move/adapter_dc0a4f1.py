# SPDX-License-Identifier: Apache-2.0
"""HEAD's lockstep runner API on the layout after the move (dc0a4f1): ``serving/``,
``Arbiter.from_settings``, ``demo/episode_runner.py``; settings' defaults in their dataclasses."""
from __future__ import annotations

from adapter_common import OutputRates, model_image, runner_with_seed, with_fields  # noqa: F401
from cosmos_policy_ros.control.arbitration import Arbiter, Command, PolicyChunk  # noqa: F401
from cosmos_policy_ros.control.modes import Mode  # noqa: F401
from cosmos_policy_ros.control.watchdog import ValueGate  # noqa: F401
from cosmos_policy_ros.demo.config import DemoConfig  # noqa: F401
from cosmos_policy_ros.demo.episode_runner import EpisodeConfig  # noqa: F401
from cosmos_policy_ros.demo.episode_runner import EpisodeResult as _EpisodeResult
from cosmos_policy_ros.demo.report import summarize, value_auc  # noqa: F401
from cosmos_policy_ros.demo.run import DemoOutcome  # noqa: F401
from cosmos_policy_ros.demo.setting import Setting as _Setting
from cosmos_policy_ros.presets import RobotPreset, load_preset  # noqa: F401
from cosmos_policy_ros.serving.inference_schedule import InferenceSchedule, ScheduleConfig  # noqa: F401
from cosmos_policy_ros.serving.observation import LatestMessages, ObservationLimits  # noqa: F401
from cosmos_policy_ros.serving.policy_runner import ModelSource, PolicyRunner  # noqa: F401
from cosmos_policy_ros.serving.policy_runner import load_runner as _load_runner
from cosmos_policy_ros.sim.arm_sim import ArmSim  # noqa: F401
from cosmos_policy_ros.sim.scene import build_scene_config  # noqa: F401
from cosmos_policy_ros.sim.session import SimSession  # noqa: F401
from cosmos_policy_ros.sim.tasks import Outcome, TaskConfig  # noqa: F401
from cosmos_policy_ros.sim.trajectory_follower import FollowerConfig, TrajectoryCommand  # noqa: F401


def load_runner(source, preset):
    return runner_with_seed(_load_runner(source, preset))


EpisodeResult = with_fields(_EpisodeResult, plans=[], joints=[])
Setting = with_fields(_Setting, planning_checkpoint="")
