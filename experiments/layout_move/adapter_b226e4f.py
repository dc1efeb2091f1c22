# SPDX-License-Identifier: Apache-2.0
"""HEAD's lockstep runner API on the layout before the move (b226e4f).

``MOVED``: HEAD's modules and where this commit has them; ``__all__``: the names this commit lacks or
builds differently (ModelSource and the arbiter from the nodes' parameters, defaults + shipped
YAML: ``ros/command_arbiter.build_arbiter``, ``PolicyNodeParams.model_source``)."""
from __future__ import annotations

from functools import partial

from adapter_common import (JOINT_STATE_RATE_HZ, WARMUP_INSTRUCTION, WATCHDOG_PERIOD_S, OutputRates,
                            model_image, runner_with_seed, shipped_parameters, with_fields)
from cosmos_policy_ros.control.inference_schedule import ScheduleConfig as _ScheduleConfig
from cosmos_policy_ros.control.modes import Mode
from cosmos_policy_ros.control.observation import ObservationLimits as _ObservationLimits
from cosmos_policy_ros.control.policy_runner import load_runner as _load_runner
from cosmos_policy_ros.control.watchdog import ValueGate as _ValueGate
from cosmos_policy_ros.demo.episodes import EpisodeResult as _EpisodeResult
from cosmos_policy_ros.demo.session import Setting as _Setting
from cosmos_policy_ros.presets import CONFIG_DIR
from cosmos_policy_ros.ros.command_arbiter import ArbiterParams, build_arbiter
from cosmos_policy_ros.ros.policy_node import PolicyNodeParams

MOVED = {
    "cosmos_policy_ros.demo.episode_runner": "cosmos_policy_ros.demo.episodes",
    "cosmos_policy_ros.demo.setting": "cosmos_policy_ros.demo.session",
    "cosmos_policy_ros.serving.inference_schedule": "cosmos_policy_ros.control.inference_schedule",
    "cosmos_policy_ros.serving.observation": "cosmos_policy_ros.control.observation",
    "cosmos_policy_ros.serving.policy_runner": "cosmos_policy_ros.control.policy_runner",
}
__all__ = ["JOINT_STATE_RATE_HZ", "WARMUP_INSTRUCTION", "WATCHDOG_PERIOD_S", "Arbiter", "EpisodeResult",
           "ModelSource", "ObservationLimits", "OutputRates", "ScheduleConfig",
           "Setting", "ValueGate", "load_runner", "model_image"]

_POLICY_PARAMS = shipped_parameters(CONFIG_DIR, "policy_node")
_NODE = PolicyNodeParams.from_dict(_POLICY_PARAMS)
ScheduleConfig = partial(_ScheduleConfig, margin_s=_NODE.timing_margin_s)
ObservationLimits = partial(_ObservationLimits, _NODE.observation_max_age_s, _NODE.observation_max_skew_s)
ValueGate = partial(_ValueGate, _NODE.value_threshold)
EpisodeResult = with_fields(_EpisodeResult, plans=[], joints=[])
Setting = with_fields(_Setting, planning_checkpoint="")


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
