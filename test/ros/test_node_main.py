# SPDX-License-Identifier: Apache-2.0
"""run_node with a lifecycle node on one thread, stopped by SIGTERM (a subprocess over real DDS).

The SIGTERM/close() path of a plain multi-threaded node is covered by test_dds.py.
"""
from __future__ import annotations

import signal
from pathlib import Path

import pytest

pytest.importorskip("rclpy", reason="run_node tests need rclpy")

from std_msgs.msg import String  # noqa: E402

from cosmos_policy_ros.ros.qos import EVENTS_QOS  # noqa: E402

import lifecycle_child as child  # noqa: E402  (a sibling: pytest puts test/ros on sys.path)
from ros_helpers import SpinningNode, start_node_process, stop_process, wait_for  # noqa: E402

pytestmark = pytest.mark.ros


def test_lifecycle_node_single_thread_close_then_shutdown_transition_on_sigterm(ros_domain):
    listener = SpinningNode("run_node_listener")
    events: list[str] = []
    listener.node.create_subscription(String, child.EVENTS_TOPIC, lambda msg: events.append(msg.data),
                                      EVENTS_QOS)
    proc = start_node_process(Path(child.__file__), ros_domain.env())
    try:
        wait_for(lambda: events, "the child's first tick")
        log = stop_process(proc, signal.SIGTERM)
        wait_for(lambda: child.SHUTDOWN_FROM_ACTIVE in events, f"the shutdown transition; log:\n{log}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        listener.close()
    assert proc.returncode == 0, log
    ticks = events[:events.index(child.CLOSED)]
    assert ticks and set(ticks) == {child.TICK_ON_MAIN_THREAD}
    assert events[len(ticks):] == [child.CLOSED, child.SHUTDOWN_FROM_ACTIVE]


CRASHING_NODE = """
import ctypes
from rclpy.node import Node
from cosmos_policy_ros.ros.node_main import run_node

def crash_in_a_callback():
    ctypes.string_at(0)  # a native crash, as a segfault in DDS or torch would be

class Crashing(Node):
    def __init__(self):
        super().__init__("crashing")
        self.create_timer(0.05, crash_in_a_callback)

run_node(Crashing, num_threads=1)
"""


def test_a_node_that_crashes_natively_prints_its_python_stack(ros_domain, tmp_path):
    """A node once died of SIGSEGV with nothing in its log (issue 21, the retrain pipeline's
    expert_noisy): run_node turns faulthandler on, so the log names the callback that crashed."""
    script = tmp_path / "crashing_node.py"
    script.write_text(CRASHING_NODE)
    proc = start_node_process(script, ros_domain.env())
    try:
        log, _ = proc.communicate(timeout=60)  # stderr goes to stdout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGSEGV, log
    assert "Segmentation fault" in log and "crash_in_a_callback" in log, log
