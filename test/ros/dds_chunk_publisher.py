# SPDX-License-Identifier: Apache-2.0
"""Test helper process: publishes ActionChunk (COMMAND QoS) and PolicyStatus (LATCHED QoS).

Runs under :func:`cosmos_policy_ros.ros.node_main.run_node`. Every ``PERIOD_S`` it publishes the
chunk built by :func:`expected_chunk` with an increasing ``sequence``, and once the latched
status from :func:`expected_status`. Its ``close()`` hook publishes a final HOLD status with
``CLOSE_REASON``, which a receiver only sees if run_node keeps the context alive until then.
"""
from __future__ import annotations

import sys

from builtin_interfaces.msg import Duration
from rclpy.duration import Duration as RclpyDuration
from rclpy.node import Node
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from cosmos_policy_msgs.msg import ActionChunk, PolicyStatus
from cosmos_policy_ros.ros.conversions import seconds_to_stamp
from cosmos_policy_ros.ros.node_main import run_node
from cosmos_policy_ros.ros.qos import COMMAND_QOS, LATCHED_QOS

NODE_NAME = "dds_chunk_publisher"
CHUNK_TOPIC = f"/{NODE_NAME}/action_chunk"
STATUS_TOPIC = f"/{NODE_NAME}/status"
PERIOD_S = 0.1
JOINTS = ["joint_a", "joint_b", "gripper"]
DT_S = 0.04
OBSERVATION_TIME_S = 1234.5
CLOSE_REASON = "publisher closed"
ACK_TIMEOUT_S = 30.0


def expected_chunk(sequence: int) -> ActionChunk:
    """The chunk with ``sequence``: 3 steps, step k at k*DT_S, positions k + joint/10."""
    points = [JointTrajectoryPoint(positions=[k + j / 10 for j in range(len(JOINTS))],
                                   time_from_start=Duration(sec=0, nanosec=int(k * DT_S * 1e9)))
              for k in range(3)]
    chunk = ActionChunk(joint_names=JOINTS, trajectory=JointTrajectory(joint_names=JOINTS, points=points),
                        dt_s=DT_S, execute_steps=2, value=0.75, candidate_index=1, num_candidates=4,
                        inference_time_ms=12.5, sequence=sequence, model_name="tiny")
    chunk.header.stamp = seconds_to_stamp(OBSERVATION_TIME_S)
    chunk.header.frame_id = "base_link"
    return chunk


def expected_status(mode: int = PolicyStatus.MODE_POLICY, reason: str = "running") -> PolicyStatus:
    """The status; float fields are exact in float32 so a received copy compares equal."""
    return PolicyStatus(mode=mode, reason=reason, source=NODE_NAME, last_value=0.75,
                        observation_age_s=0.03125, deadline_misses=3, rejected_chunks=1,
                        call_for_teleop=False, model_name="tiny", instruction="pick the cube")


class ChunkPublisher(Node):
    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self._chunks = self.create_publisher(ActionChunk, "~/action_chunk", COMMAND_QOS)
        self._status = self.create_publisher(PolicyStatus, "~/status", LATCHED_QOS)
        self._sequence = 0
        self._status.publish(expected_status())
        self.create_timer(PERIOD_S, self._publish_chunk)

    def _publish_chunk(self) -> None:
        self._chunks.publish(expected_chunk(self._sequence))
        self._sequence += 1

    def close(self) -> None:
        """The final status, acknowledged before the process exits: an unacknowledged sample is lost
        with the process (seen under load: "nothing received" after SIGTERM)."""
        self._status.publish(expected_status(PolicyStatus.MODE_HOLD, CLOSE_REASON))
        self._status.wait_for_all_acked(RclpyDuration(seconds=ACK_TIMEOUT_S))


if __name__ == "__main__":
    sys.exit(run_node(ChunkPublisher))
