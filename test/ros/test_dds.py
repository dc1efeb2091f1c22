# SPDX-License-Identifier: Apache-2.0
"""Two processes over real DDS: a subprocess publishes ActionChunk and PolicyStatus, this one receives.

Also checks the portable ``run_node`` main end to end: SIGTERM makes the child run its
``close()`` hook while it can still publish (the final HOLD status arrives here) and exit 0.
"""
from __future__ import annotations

import queue
import signal
import subprocess
import sys

import pytest

rclpy = pytest.importorskip("rclpy", reason="DDS tests need the ROS 2 Python wheels")

from rclpy.node import Node  # noqa: E402

from cosmos_policy_msgs.msg import ActionChunk, PolicyStatus  # noqa: E402
from cosmos_policy_ros.ros.qos import COMMAND_QOS, LATCHED_QOS  # noqa: E402

import dds_chunk_publisher as publisher  # noqa: E402  (a sibling: pytest puts test/ros on sys.path)
from ros_helpers import SpinningNode, end_processes  # noqa: E402

pytestmark = pytest.mark.ros
RECEIVE_TIMEOUT_S = 30.0
EXIT_TIMEOUT_S = 20.0


class Receiver(SpinningNode):
    """The shared spinning node with per-topic queues for the publisher's two topics."""

    def __init__(self) -> None:
        super().__init__("dds_receiver")
        self.chunks: queue.Queue[ActionChunk] = queue.Queue()
        self.statuses: queue.Queue[PolicyStatus] = queue.Queue()
        self.node.create_subscription(ActionChunk, publisher.CHUNK_TOPIC, self.chunks.put, COMMAND_QOS)
        self.node.create_subscription(PolicyStatus, publisher.STATUS_TOPIC, self.statuses.put, LATCHED_QOS)


@pytest.fixture
def child_and_receiver(ros_domain):
    receiver = Receiver()
    child = subprocess.Popen([sys.executable, publisher.__file__], env=ros_domain.env(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield child, receiver
    finally:  # also after a failure read the child's output (communicate again would raise)
        end_processes([child])
        receiver.close()


def next_message(messages: queue.Queue, child: subprocess.Popen):
    try:
        return messages.get(timeout=RECEIVE_TIMEOUT_S)
    except queue.Empty:
        child.kill()
        pytest.fail(f"nothing received over DDS; child output:\n{child.communicate()[0]}")


def test_action_chunk_and_status_cross_processes(child_and_receiver):
    child, receiver = child_and_receiver
    first, second = next_message(receiver.chunks, child), next_message(receiver.chunks, child)
    assert second.sequence > first.sequence
    assert first == publisher.expected_chunk(first.sequence)  # every field survives the wire
    status = next_message(receiver.statuses, child)
    assert status == publisher.expected_status()

    child.send_signal(signal.SIGTERM)
    final = next_message(receiver.statuses, child)
    assert (final.mode, final.reason) == (PolicyStatus.MODE_HOLD, publisher.CLOSE_REASON)
    output, _ = child.communicate(timeout=EXIT_TIMEOUT_S)
    assert child.returncode == 0, output


def test_late_subscriber_gets_the_latched_status(ros_domain, child_and_receiver):
    child, receiver = child_and_receiver
    next_message(receiver.chunks, child)  # the publisher is up and matched
    late = Node("late_receiver", context=receiver.context)
    statuses: queue.Queue[PolicyStatus] = queue.Queue()
    late.create_subscription(PolicyStatus, publisher.STATUS_TOPIC, statuses.put, LATCHED_QOS)
    receiver.executor.add_node(late)
    try:
        assert next_message(statuses, child) == publisher.expected_status()
    finally:
        receiver.executor.remove_node(late)
        late.destroy_node()
    child.send_signal(signal.SIGINT)
    child.communicate(timeout=EXIT_TIMEOUT_S)
    assert child.returncode == 0
