# SPDX-License-Identifier: Apache-2.0
"""What both old layouts (b226e4f, dc0a4f1) lack of HEAD's lockstep runner API, written against
their nodes' behaviour. Copied into the commit's worktree beside ``layout_adapter.py``.

* ``OutputRates``: HEAD's class (loaded from HEAD's file, ``LAYOUT_MOVE_HEAD``), restarted at
  stamp 0.0 after a reset as both commits' ``sim_arm_node`` did (``self._next_due_s =
  dict.fromkeys(self._next_due_s, 0.0)``; HEAD restarts at the reset stamp).
* ``runner_with_seed``: ``decision_seed`` as both commits' policy_node computed it
  (``self.params.seed + self._sequence * self.params.planning_num_candidates``); a dict plan
  (b226e4f's ``Decision.plan``) read as attributes.
* ``model_image``: both commits' policy_node fed the frame as received (no resize step).
* ``with_fields``: a commit's dataclass with the fields HEAD's runner uses that it lacks
  (``Setting.planning_checkpoint``; ``EpisodeResult.plans`` at b226e4f, ``joints`` at both).
* ``shipped_parameters``: a node's shipped ``config/<node>.yaml`` (the graph loads it over the
  node's defaults).
* ``JOINT_STATE_RATE_HZ``, ``WATCHDOG_PERIOD_S``, ``WARMUP_INSTRUCTION``: the defaults both commits'
  nodes typed in their parameter tables (sim_arm ``joint_state_rate_hz``, command_arbiter
  ``watchdog.period_s``, policy_node's warm-up instruction); HEAD gives each one home.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import field, fields, make_dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import yaml


JOINT_STATE_RATE_HZ = 100.0
WATCHDOG_PERIOD_S = 0.02
WARMUP_INSTRUCTION = "warm up"


def _head_module(relative: str, name: str):
    path = Path(os.environ["LAYOUT_MOVE_HEAD"]) / relative
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


class OutputRates(_head_module("cosmos_policy_ros/sim/session.py", "head_sim_session").OutputRates):
    def restart(self, start_s: float) -> None:
        super().restart(0.0)


def model_image(frame: np.ndarray, camera: Any) -> np.ndarray:
    return frame


class _SeededRunner:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def decision_seed(self, base_seed: int, sequence: int) -> int:
        return base_seed + sequence * self._inner.source.num_candidates

    def decide(self, *args: Any, **kwargs: Any) -> Any:
        decision = self._inner.decide(*args, **kwargs)
        if isinstance(decision.plan, dict):
            decision.plan = SimpleNamespace(**decision.plan)
        return decision


def runner_with_seed(inner: Any) -> _SeededRunner:
    return _SeededRunner(inner)


def shipped_parameters(config_dir: Path, node: str) -> dict[str, Any]:
    """``config/<node>.yaml`` flattened to dotted parameter names."""
    data = yaml.safe_load((config_dir / f"{node}.yaml").read_text(encoding="utf-8")) or {}
    section = next(iter(data.values()))["ros__parameters"]
    flat: dict[str, Any] = {}

    def walk(tree: dict[str, Any], prefix: str) -> None:
        for key, value in tree.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                flat[f"{prefix}{key}"] = value
    walk(section, "")
    return flat


def with_fields(cls: type, **defaults: Any) -> type:
    """``cls`` with the fields of ``defaults`` it lacks (a list default: a fresh list each)."""
    have = {f.name for f in fields(cls)}
    extra = [(name, type(value), field(default_factory=list) if isinstance(value, list) else field(default=value))
             for name, value in defaults.items() if name not in have]
    return make_dataclass(cls.__name__, extra, bases=(cls,), frozen=cls.__dataclass_params__.frozen)
