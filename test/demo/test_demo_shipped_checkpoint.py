# SPDX-License-Identifier: Apache-2.0
"""A shortened ``cosmos-policy demo`` with the shipped checkpoint on the real node graph.

Runs the same code path as the README's command (both settings, the hand-off episode, the report)
with fewer episodes, and checks both settings' success rates and the value AUC against what was
measured here, and that the hand-off's HOLD was the policy's value-gated call for teleop.
"""
from __future__ import annotations

import json
import math

import pytest

from cosmos_policy_ros.demo.config import DemoConfig
from cosmos_policy_ros.demo.run import run_demo

EPISODES = 4
# Measured with the shipped checkpoint (made by `cosmos-policy demo --retrain`) on this machine
# (2 cores), the README's command on a fresh clone, 20 held-out scenes per setting: plan-and-select
# 19/20 twice, N=1 18/20 twice, value AUC 0.90 and 0.92 (commits 51e31ae, b2f2751).
# Over 4 episodes at p = 0.9, fewer than 2 successes happens with probability 0.4 % (1.2 % at
# p = 0.85): the threshold is 2/4 for both settings.
MIN_SUCCESS_N1 = 0.5
MIN_SUCCESS_PLAN = 0.5
# The AUC over 4 plan-and-select episodes exists only when some failed (1 - 0.9^4 = 34 % of runs).
# With one failure the AUC is the share of the 3 successes valued above it; below 0.5 means the
# failure outranked 2 of them, which at a pairwise 0.9 happens in ~3 % of those runs (~1 % overall).
MIN_VALUE_AUC = 0.5

pytestmark = [pytest.mark.sim, pytest.mark.slow, pytest.mark.ros]


def test_shortened_demo_with_the_shipped_checkpoint(ros_domain, tmp_path):
    config = DemoConfig.from_yaml().replace(episodes=EPISODES)
    messages: list[str] = []
    outcome = run_demo(config, tmp_path, messages.append)
    log = "\n".join(messages)

    assert outcome.episodes == EPISODES
    assert outcome.success_n1 >= MIN_SUCCESS_N1, log
    assert outcome.success_plan >= MIN_SUCCESS_PLAN, log
    assert outcome.last_line().startswith(f"demo task=reach episodes={EPISODES} ")
    for name in ("value_over_time.png", "latency_hist.png", "choices.png", "episode.gif", "handoff.gif",
                 "episodes.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    import imageio.v2 as imageio
    gif = imageio.mimread(tmp_path / "episode.gif")
    assert gif[0].shape[:2] == (320, 640) and len(gif) > 5  # N=1 | plan-and-select, re-rendered at 320 px
    assert "McNemar p = " in log and "wilson95" in log
    episodes = json.loads((tmp_path / "episodes.json").read_text())
    plan = [e for e in episodes if e["kind"] == "policy"][EPISODES:]  # N=1 episodes first
    assert len(plan) == EPISODES and all(e["values"] for e in plan)
    # each decision: the value of every candidate evaluated within the deadline, and the one taken
    assert all(1 <= len(values) <= config.num_candidates and 0 <= taken < len(values)
               for e in plan for _, values, taken in e["plans"])
    outcomes = {e["success"] for e in plan}
    if len(outcomes) == 2:  # the AUC exists only with a success and a failure
        assert outcome.value_auc >= MIN_VALUE_AUC, log
    else:
        assert math.isnan(outcome.value_auc)

    # The hand-off: TELEOP -> POLICY, then the threshold is raised to force a call for teleop.
    # The shipped checkpoint's value often saturates at 1.0 (the highest threshold policy_node
    # accepts), and the reach can finish first, so three outcomes are possible; each is checked
    # for what makes it legitimate, and a HOLD without a call is only accepted when no value allowed one.
    handoff = next(m for m in messages if m.startswith("hand-off episode"))
    assert "TELEOP -> POLICY" in handoff, handoff
    [record] = [e for e in episodes if e["kind"] == "handoff"]
    events = [name for _, name in record["events"]]
    forced = f"value threshold {config.forced_threshold:g}"
    print(f"hand-off: {handoff}; events {events}")
    if forced not in events:  # the policy finished the reach before the first chunk after the hand-off
        assert record["success"] and "operator takes over" not in events, (handoff, events)
        return
    forced_s = next(t for t, name in record["events"] if name == forced)
    if "call for teleop" not in events and "operator takes over" not in events:  # done before any call
        assert record["success"], (handoff, events)
        return
    answered_s = next(t for t, name in record["events"] if name in ("call for teleop", "operator takes over"))
    # the chunks published between the threshold change and the answer: those stamped (observed)
    # after the change, and the one whose inference was under way then (stamped just before it)
    stamps = [t for t, _ in record["values"]]
    first = max([i for i, t in enumerate(stamps) if t < forced_s], default=0)
    gated = [v for t, v in record["values"][first:] if t <= answered_s]
    if "call for teleop" in events:  # the policy's own value-gated call
        assert any(v < config.forced_threshold for v in gated), (gated, config.forced_threshold)
    else:  # the driver took over because no call came: only right when no value was below the threshold
        assert gated and all(v >= config.forced_threshold for v in gated), (gated, config.forced_threshold)
    # the arbiter holds (on the flagged chunk by itself, or when told), then the teleop finishes
    assert "HOLD -> TELEOP" in handoff, handoff
    hold_s = next(t for t, mode in record["modes"] if mode == "HOLD" and t >= forced_s)
    assert any(mode == "TELEOP" and t >= hold_s for t, mode in record["modes"]), record["modes"]
