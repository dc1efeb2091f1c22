# SPDX-License-Identifier: Apache-2.0
"""The sim arm's joint_states reach a reliable subscriber, as joint_state_broadcaster's do.

MoveIt and most lab scripts subscribe to joint_states reliable; a best-effort publisher never
matches them (issue 18). The subscriber here is created exactly as such a client would create it.
"""
from __future__ import annotations

import pytest

pytest.importorskip("rclpy", reason="sim node tests need rclpy")

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402

from cosmos_policy_ros.presets import load_preset  # noqa: E402

from ros_helpers import SpinningNode, start_node_process, stop_process, wait_for  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.sim]
RELIABLE_SUBSCRIBER = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                                 durability=DurabilityPolicy.VOLATILE)


def test_reliable_subscriber_receives_the_sim_joint_states(ros_domain):
    proc = start_node_process("cosmos_policy_ros.sim.sim_arm_node", ros_domain.env(), {"camera_rate_hz": "0.0"})
    spinner = SpinningNode("reliable_joint_state_client")
    received: list[JointState] = []
    try:
        sub = spinner.node.create_subscription(JointState, "joint_states", received.append, RELIABLE_SUBSCRIBER)
        wait_for(lambda: len(received) >= 3 or proc.poll() is not None, "joint_states on a reliable subscription")
        assert proc.poll() is None, "sim_arm_node exited"
        assert list(received[-1].name) == list(load_preset("sim_arm").joints)
        [info] = spinner.node.get_publishers_info_by_topic(sub.topic_name)
        assert info.qos_profile.reliability == ReliabilityPolicy.RELIABLE
    finally:
        spinner.close()
        output = stop_process(proc)
    assert proc.returncode == 0, output
