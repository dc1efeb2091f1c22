# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy demo --lockstep``: the shipped checkpoint's policy episodes on a frozen sim clock.

Two runs of the same shortened demo must agree to the bit: the last line and every episode's
outcome, duration, chunk values, plan scores and mode changes (episodes.json). That holds only
if no sim time passes while the policy decides (what a decision observes would then depend on how
long inference took) and every random draw is seeded.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cosmos_policy_ros.demo.config import DemoConfig
from cosmos_policy_ros.demo.run import run_demo

EPISODES = 2
TIME_LIMIT_S = 2.0  # sim seconds of POLICY per episode: short, and the reach (2-3 s) may end either way
WALL_TIMES = ("inference_ms", "planning_ms")  # measured wall time: the only fields allowed to differ

pytestmark = [pytest.mark.sim, pytest.mark.slow]


def _lockstep_run(out_dir) -> tuple[str, list[dict], list[str]]:
    config = DemoConfig.from_yaml().replace(episodes=EPISODES, time_limit_s=TIME_LIMIT_S)
    messages: list[str] = []
    outcome = run_demo(config, out_dir, messages.append, lockstep=True)
    episodes = json.loads((out_dir / "episodes.json").read_text())
    return outcome.last_line(), [{k: v for k, v in e.items() if k not in WALL_TIMES} for e in episodes], messages


def test_lockstep_demo_twice_gives_the_same_line_and_episodes(tmp_path):
    line_a, episodes_a, log = _lockstep_run(tmp_path / "a")
    line_b, episodes_b, _ = _lockstep_run(tmp_path / "b")

    assert line_a.startswith(f"demo task=reach episodes={EPISODES} "), line_a
    assert [e["kind"] for e in episodes_a] == ["policy"] * (2 * EPISODES)  # no hand-off in lockstep
    assert all(e["plans"] and e["values"] for e in episodes_a)  # the policy decided in every episode
    assert all(len(values) == 8 for e in episodes_a[EPISODES:] for _, values, _ in e["plans"])  # all N scored
    assert sum(1 for m in log if " episode " in m and " seed " in m) == 2 * EPISODES  # progress per episode
    assert line_b == line_a
    for a, b in zip(episodes_a, episodes_b, strict=True):
        assert a == b, f"seed {a['seed']}: the runs differ"


def test_the_lockstep_command_renders_on_a_machine_without_a_display(tmp_path):
    """The user's shell has no MUJOCO_GL (only our test setup sets it): the command picks EGL before
    anything imports mujoco, which chooses its GL backend once, at import."""
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "DISPLAY", "WAYLAND_DISPLAY")}
    run = subprocess.run([sys.executable, "-m", "cosmos_policy_ros.cli", "demo", "--lockstep", "--episodes", "1",
                          "--out", str(tmp_path)], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    assert run.stdout.splitlines()[-1].startswith("demo task=reach episodes=1 "), run.stdout[-2000:]
