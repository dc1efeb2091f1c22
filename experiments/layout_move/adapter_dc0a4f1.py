# SPDX-License-Identifier: Apache-2.0
"""HEAD's lockstep runner API on the layout after the move (dc0a4f1): HEAD's module names already
(``serving/``, ``Arbiter.from_settings``, ``demo/episode_runner.py``), so ``MOVED`` is empty;
``__all__``: what the commit lacks (``adapter_common.py``) and its results' missing fields."""
from __future__ import annotations

from adapter_common import (JOINT_STATE_RATE_HZ, WARMUP_INSTRUCTION, WATCHDOG_PERIOD_S, OutputRates,
                            model_image, runner_with_seed, with_fields)
from cosmos_policy_ros.demo.episode_runner import EpisodeResult as _EpisodeResult
from cosmos_policy_ros.demo.setting import Setting as _Setting
from cosmos_policy_ros.serving.policy_runner import load_runner as _load_runner

MOVED: dict[str, str] = {}
__all__ = ["JOINT_STATE_RATE_HZ", "WARMUP_INSTRUCTION", "WATCHDOG_PERIOD_S", "EpisodeResult", "OutputRates",
           "Setting", "load_runner", "model_image"]

EpisodeResult = with_fields(_EpisodeResult, plans=[], joints=[])
Setting = with_fields(_Setting, planning_checkpoint="")


def load_runner(source, preset):
    return runner_with_seed(_load_runner(source, preset))
