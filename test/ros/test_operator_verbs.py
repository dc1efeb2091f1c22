# SPDX-License-Identifier: Apache-2.0
"""The operator verbs (``cosmos-policy mode|estop|reset|episode|lifecycle|instruction``) as a
user runs them: separate processes over real DDS against a real command_arbiter, recorder and a
lifecycle node. Each verb's exit status and message come from the node's answer."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy", reason="operator verbs need rclpy")

from cosmos_policy_ros.data.bag_labels import OUTCOME_FAILURE, read_label  # noqa: E402
from cosmos_policy_ros.ros.operator_client import EXIT_REFUSED, EXIT_UNAVAILABLE  # noqa: E402

from ros_helpers import end_processes, start_node_process, stop_process, wait_for  # noqa: E402

pytestmark = pytest.mark.ros
LIFECYCLE_CHILD = Path(__file__).with_name("lifecycle_child.py")
VERB_TIMEOUT_S = 30.0  # the verb's own --timeout: discovery under load
# Only a guard against a hung verb: the interpreter's start-up alone took > 4 s under load (the old
# guard, 4x a 1 s --timeout, killed a verb that was about to answer).
HUNG_VERB_S = 120.0


def verb(env: dict, *args: str, timeout_s: float = VERB_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cosmos_policy_ros.cli", *args, "--timeout", str(timeout_s)],
                          env=env, capture_output=True, text=True, timeout=timeout_s + HUNG_VERB_S)


@pytest.fixture(scope="module")
def graph(module_ros_domain, tmp_path_factory):
    """One graph for the module: each test drives a node no other test touches (the arbiter, the
    recorder and its bag folder, the lifecycle child), so each still starts from a fresh node."""
    env = module_ros_domain.env()
    bags = tmp_path_factory.mktemp("verbs") / "bags"
    procs = [start_node_process("cosmos_policy_ros.ros.command_arbiter", env),
             start_node_process("cosmos_policy_ros.ros.recorder_node", env, {"output_dir": bags}),
             start_node_process(LIFECYCLE_CHILD, env)]
    yield env, bags
    try:
        for proc in procs:
            stop_process(proc)
    finally:
        end_processes(procs)  # every one, even after another did not stop (stop_process raised)


def test_mode_estop_reset_refusals_carry_the_arbiter_reason(graph):
    env, _ = graph
    teleop = verb(env, "mode", "teleop")
    assert teleop.returncode == 0, teleop.stderr
    assert verb(env, "estop").returncode == 0
    refused = verb(env, "mode", "policy")
    assert refused.returncode == EXIT_REFUSED
    assert "command_arbiter refused POLICY" in refused.stderr and "ESTOP" in refused.stderr.upper()
    reset = verb(env, "reset")
    assert reset.returncode == 0, reset.stderr
    hold = verb(env, "mode", "hold")
    assert hold.returncode == 0, hold.stderr


def test_episode_verbs_label_and_discard_bags(graph):
    env, bags = graph
    start = verb(env, "episode", "start", "--task", "pick the cube")
    assert start.returncode == 0, start.stderr
    first = start.stdout.strip()
    assert verb(env, "episode", "end", "--failure").returncode == 0
    not_running = verb(env, "episode", "end", "--success")
    assert not_running.returncode == EXIT_REFUSED and "no episode is running" in not_running.stderr
    assert verb(env, "episode", "end").returncode == 2  # no outcome given: a usage error
    assert verb(env, "episode", "start", "--task", "again").returncode == 0
    discarded = verb(env, "episode", "end", "--discard")
    assert discarded.returncode == 0, discarded.stderr
    assert first not in discarded.stdout
    assert verb(env, "episode", "start", "--task", "third").returncode == 0
    assert verb(env, "episode", "discard").returncode == 0
    assert verb(env, "episode", "discard").returncode == 0  # the last kept episode (the first)
    nothing = verb(env, "episode", "discard")
    assert nothing.returncode == EXIT_REFUSED and "no episode to discard" in nothing.stderr
    fourth = verb(env, "episode", "start", "--task", "fourth").stdout.strip()
    assert fourth and verb(env, "episode", "end", "--failure").returncode == 0
    # the writer thread deletes and closes bags in the order asked, after the services answered
    wait_for(lambda: sorted(p.name for p in bags.iterdir()) == [fourth], "only the fourth bag is left")
    wait_for(lambda: read_label(bags / fourth) == OUTCOME_FAILURE, "the fourth bag closed with its label")

def test_lifecycle_verb_reports_state_and_unavailable_transitions(graph):
    env, _ = graph
    state = verb(env, "lifecycle", "lifecycle_child")
    assert state.returncode == 0 and state.stdout.strip() == "lifecycle_child: active", state.stderr
    refused = verb(env, "lifecycle", "lifecycle_child", "configure")
    assert refused.returncode == EXIT_REFUSED
    assert "cannot 'configure' from state 'active'" in refused.stderr
    down = verb(env, "lifecycle", "lifecycle_child", "deactivate")
    assert down.returncode == 0 and down.stdout.strip() == "lifecycle_child: inactive", down.stderr


def test_a_missing_node_times_out_with_a_clear_message(ros_domain):
    absent = verb(ros_domain.env(), "instruction", "stack the cubes", timeout_s=1.0)
    assert absent.returncode == EXIT_UNAVAILABLE
    assert "service /policy_node/set_instruction is not available after 1 s" in absent.stderr
