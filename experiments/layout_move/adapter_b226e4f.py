# SPDX-License-Identifier: Apache-2.0
"""HEAD's lockstep runner API on the layout before the move (b226e4f): ``control/policy_runner.py``,
``control/observation.py``, ``control/inference_schedule.py``, ``demo/episodes.py``, the arbiter
built by ``ros/command_arbiter.build_arbiter`` from the node's parameters (defaults + shipped YAML)."""
from __future__ import annotations

from functools import partial

from adapter_common import (OutputRates, model_image, runner_with_seed, shipped_parameters,  # noqa: F401
                            with_fields)
from cosmos_policy_ros.control.arbitration import Command, PolicyChunk  # noqa: F401
from cosmos_policy_ros.control.inference_schedule import InferenceSchedule  # noqa: F401
from cosmos_policy_ros.control.inference_schedule import ScheduleConfig as _ScheduleConfig
from cosmos_policy_ros.control.modes import Mode
from cosmos_policy_ros.control.observation import LatestMessages  # noqa: F401
from cosmos_policy_ros.control.observation import ObservationLimits as _ObservationLimits
from cosmos_policy_ros.control.policy_runner import PolicyRunner  # noqa: F401
from cosmos_policy_ros.control.policy_runner import load_runner as _load_runner
from cosmos_policy_ros.control.watchdog import ValueGate as _ValueGate
from cosmos_policy_ros.demo.config import DemoConfig  # noqa: F401
from cosmos_policy_ros.demo.episodes import EpisodeConfig  # noqa: F401
from cosmos_policy_ros.demo.episodes import EpisodeResult as _EpisodeResult
from cosmos_policy_ros.demo.report import summarize, value_auc  # noqa: F401
from cosmos_policy_ros.demo.run import DemoOutcome  # noqa: F401
from cosmos_policy_ros.demo.session import Setting as _Setting
from cosmos_policy_ros.presets import CONFIG_DIR, RobotPreset, load_preset  # noqa: F401
from cosmos_policy_ros.ros.command_arbiter import ArbiterParams, build_arbiter
from cosmos_policy_ros.ros.policy_node import PolicyNodeParams
from cosmos_policy_ros.sim.arm_sim import ArmSim  # noqa: F401
from cosmos_policy_ros.sim.scene import build_scene_config  # noqa: F401
from cosmos_policy_ros.sim.session import SimSession  # noqa: F401
from cosmos_policy_ros.sim.tasks import Outcome, TaskConfig  # noqa: F401
from cosmos_policy_ros.sim.trajectory_follower import FollowerConfig, TrajectoryCommand  # noqa: F401

_POLICY_PARAMS = shipped_parameters(CONFIG_DIR, "policy_node")
_NODE = PolicyNodeParams.from_dict(_POLICY_PARAMS)
ScheduleConfig = partial(_ScheduleConfig, margin_s=_NODE.timing_margin_s)
ObservationLimits = partial(_ObservationLimits, _NODE.observation_max_age_s, _NODE.observation_max_skew_s)
ValueGate = partial(_ValueGate, _NODE.value_threshold)


def ModelSource(checkpoint: str, num_candidates: int, planning_mode: str, planning_checkpoint: str):  # noqa: N802
    """policy_node's ModelSource with the demo's parameters over the node's (defaults + shipped YAML)."""
    return PolicyNodeParams.from_dict({**_POLICY_PARAMS, "checkpoint": checkpoint,
                                       "planning.num_candidates": num_candidates, "planning.mode": planning_mode,
                                       "planning_checkpoint": planning_checkpoint}).model_source()


def load_runner(source, preset):
    return runner_with_seed(_load_runner(source, preset))


class Arbiter:
    @staticmethod
    def from_settings(preset, urdf_xml: str, start_mode: Mode):
        values = {**shipped_parameters(CONFIG_DIR, "command_arbiter"), "start_mode": start_mode.name.lower()}
        return build_arbiter(ArbiterParams.from_dict(values), preset, urdf_xml)


EpisodeResult = with_fields(_EpisodeResult, plans=[], joints=[])
Setting = with_fields(_Setting, planning_checkpoint="")
