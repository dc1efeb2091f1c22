# SPDX-License-Identifier: Apache-2.0
"""Test helper process: a lifecycle node under ``run_node(num_threads=1)``.

It configures and activates itself, then reports on ``~/events`` (EVENTS_QOS, std_msgs/String):
``TICK_ON_MAIN_THREAD`` or ``TICK_OFF_MAIN_THREAD`` from its timer (single-threaded executor:
callbacks on the thread that built the node), then on the way out ``CLOSED`` from ``close()`` and
``SHUTDOWN_FROM_ACTIVE`` from ``on_shutdown`` (run_node's lifecycle shutdown transition).
"""
from __future__ import annotations

import sys
import threading

from rclpy.duration import Duration
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from std_msgs.msg import String

from cosmos_policy_ros.ros.node_main import run_node
from cosmos_policy_ros.ros.qos import EVENTS_QOS

NODE_NAME = "lifecycle_child"
EVENTS_TOPIC = f"/{NODE_NAME}/events"
TICK_PERIOD_S = 0.1
TICK_ON_MAIN_THREAD = "tick on the main thread"
TICK_OFF_MAIN_THREAD = "tick off the main thread"
CLOSED = "closed"
SHUTDOWN_FROM_ACTIVE = "shutdown from active"
ACK_TIMEOUT_S = 30.0


class LifecycleChild(LifecycleNode):
    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self._events = self.create_publisher(String, "~/events", EVENTS_QOS)
        self.trigger_configure()
        self.trigger_activate()

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.create_timer(TICK_PERIOD_S, self._on_tick)
        return super().on_configure(state)

    def _on_tick(self) -> None:
        on_main = threading.current_thread() is threading.main_thread()
        self._events.publish(String(data=TICK_ON_MAIN_THREAD if on_main else TICK_OFF_MAIN_THREAD))

    def close(self) -> None:
        self._report(CLOSED)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._report(f"shutdown from {state.label}")
        return super().on_shutdown(state)

    def _report(self, event: str) -> None:
        """Publish an event of the way out and wait for the test's acknowledgement: a sample not yet
        acknowledged when the process exits is lost (seen under load)."""
        self._events.publish(String(data=event))
        self._events.wait_for_all_acked(Duration(seconds=ACK_TIMEOUT_S))


if __name__ == "__main__":
    sys.exit(run_node(LifecycleChild, num_threads=1))
