# SPDX-License-Identifier: Apache-2.0
"""The project's named QoS profiles: every publisher and subscription picks one of these.

Matching QoS is part of the topic contract (docs/INTERFACES.md): a reliable subscription never
matches a best-effort publisher, and a transient-local subscription only gets the last message
from a transient-local publisher. Naming the profiles once keeps every node consistent.
"""
from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

# Images and joint states: only the newest sample matters, and a retransmitted stale frame is
# worse than a dropped one. Best effort + small keep-last depth (rclpy's sensor-data profile).
# A best-effort subscription also matches reliable publishers (cameras, ros2_control).
SENSOR_QOS: QoSProfile = qos_profile_sensor_data

# Joint states we publish (the sim arm): what ros2_control's joint_state_broadcaster offers,
# ``create_publisher<JointState>("joint_states", rclcpp::SystemDefaultsQoS())``
# (ros-controls/ros2_controllers joint_state_broadcaster/src/joint_state_broadcaster.cpp), which is
# reliable + volatile on every shipped RMW. Reliable subscribers (MoveIt, lab scripts) need it;
# best-effort subscribers (ours, SENSOR_QOS) match it too.
STATE_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

# Commands to a controller and action chunks: the newest command replaces the previous one, so
# depth 1; reliable so a chunk is never silently lost; volatile because a command must never be
# replayed to a late joiner. This is what joint_trajectory_controller subscribes with
# (SystemDefaultsQoS: reliable, volatile), so our publisher matches it.
COMMAND_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

# State that a node joining later must still see (mode/status, robot_description): the last
# message is kept by the publisher and delivered on match.
LATCHED_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)

# Episode events and mode changes that the recorder must log without gaps: reliable with a deep
# queue so a burst (reset + start + end) is never dropped; volatile because old events must not
# be re-delivered into a new recording.
EVENTS_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=100,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

__all__ = ["COMMAND_QOS", "EVENTS_QOS", "LATCHED_QOS", "SENSOR_QOS", "STATE_QOS"]
