# SPDX-License-Identifier: Apache-2.0
"""The demo's own ROS node: drives episodes through services, watches topics, keeps what it measures.

It plays the role of the person at the keyboard (the operator client's service calls: reset the
sim, pick the teleoperator, switch the arbiter's mode, start/end recorded episodes, set the
instruction). Everything it reports comes from the running nodes (task events, arbiter status,
the policy's chunks and plan candidates). Threads: the executor spins in a background thread; the
caller's (episode runner's) thread blocks on service futures and on ``wait_until``. Shared lists
are guarded by one lock.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger

from cosmos_policy_msgs.msg import ActionChunk, EpisodeEvent, PlanCandidates, PolicyStatus
from cosmos_policy_msgs.srv import ResetTask

from cosmos_policy_ros.ros.conversions import stamp_to_seconds
from cosmos_policy_ros.ros.operator_client import OperatorClient, Refused
from cosmos_policy_ros.ros.qos import EVENTS_QOS, SENSOR_QOS

NODE_NAME = "demo_driver"
RELIABLE_10 = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


@dataclass
class ChunkRecord:
    """One ActionChunk as seen by the demo (times on the sim clock [s])."""

    stamp_s: float
    received_s: float
    value: float
    inference_ms: float
    num_candidates: int


@dataclass
class PlanRecord:
    stamp_s: float
    elapsed_ms: float
    num_evaluated: int
    values: list[float]
    selected_index: int
    call_for_teleop: bool


@dataclass
class Observed:
    """What the topics said since the last :meth:`DemoClient.clear`."""

    chunks: list[ChunkRecord] = field(default_factory=list)
    plans: list[PlanRecord] = field(default_factory=list)
    events: list[EpisodeEvent] = field(default_factory=list)
    arbiter: list[tuple[float, PolicyStatus]] = field(default_factory=list)
    joints: list[tuple[float, dict[str, float]]] = field(default_factory=list)


class DemoClient(OperatorClient):
    """The operator client plus the demo's topic monitors (names from docs/INTERFACES.md).

    Args:
        joint_states_topic: the arm's joint states (the preset's), kept with their stamps so the
            report can re-render an episode with a camera a person can read (``sim/replay.py``).
        service_timeout_s: wall-clock limit of one service call.
    """

    def __init__(self, joint_states_topic: str, service_timeout_s: float = 20.0) -> None:
        super().__init__(NODE_NAME, service_timeout_s=service_timeout_s, use_sim_time=True)
        self.observed = Observed()
        self.create_subscription(EpisodeEvent, "task/events", self._keep("events"), EVENTS_QOS)
        self.create_subscription(PlanCandidates, "/policy_node/plan_candidates", self._on_plan, RELIABLE_10)
        self.create_subscription(JointState, joint_states_topic, self._on_joints, SENSOR_QOS)

    # --- topics ---------------------------------------------------------------------------------
    def now_s(self) -> float:
        """Sim time [s] (``/clock``)."""
        return self.get_clock().now().nanoseconds * 1e-9

    def _keep(self, name: str) -> Callable[[Any], None]:
        def keep(message: Any) -> None:
            with self._lock:
                getattr(self.observed, name).append(message)
        return keep

    def _on_chunk(self, msg: ActionChunk) -> None:
        super()._on_chunk(msg)
        record = ChunkRecord(stamp_to_seconds(msg.header.stamp), self.now_s(), float(msg.value),
                             float(msg.inference_time_ms), int(msg.num_candidates))
        with self._lock:
            self.observed.chunks.append(record)

    def _on_plan(self, msg: PlanCandidates) -> None:
        record = PlanRecord(stamp_to_seconds(msg.header.stamp), float(msg.elapsed_ms), int(msg.num_evaluated),
                            [float(v) for v in msg.values], int(msg.selected_index),
                            bool(msg.call_for_teleop))
        with self._lock:
            self.observed.plans.append(record)

    def _on_arbiter(self, msg: PolicyStatus) -> None:
        with self._lock:
            super()._on_arbiter(msg)
            self.observed.arbiter.append((self.now_s(), msg))

    def _on_joints(self, msg: JointState) -> None:
        positions = dict(zip(msg.name, (float(p) for p in msg.position)))
        with self._lock:
            self.observed.joints.append((stamp_to_seconds(msg.header.stamp), positions))

    def take_observed(self) -> Observed:
        """Everything observed since the last call (and start afresh)."""
        with self._lock:
            observed, self.observed = self.observed, Observed()
        return observed

    def peek(self, getter: Callable[[Observed], Any]) -> Any:
        with self._lock:
            return getter(self.observed)

    # --- services the operator client does not have -----------------------------------------------
    def reset_task(self, task: str, seed: int, target: str = "") -> str:
        """Reset the sim to a new episode (``target``: another block of the seed's scene); returns
        its instruction."""
        response = self.call(ResetTask, "/sim_arm/reset_task", ResetTask.Request(task=task, seed=seed, target=target))
        if not response.success:
            raise Refused(f"sim reset failed: {response.message}")
        return response.message

    def restart_expert(self, node: str, task: str, seed: int, enabled: bool) -> None:
        self.set_parameters(node, {"task": task, "seed": seed, "enabled": enabled})
        self.call(Trigger, f"/{node}/reset", Trigger.Request())

    def end_episode_if_running(self, success: bool, note: str) -> None:
        """End the recorded episode; already ended by the task's END event is fine."""
        outcome = EpisodeEvent.OUTCOME_SUCCESS if success else EpisodeEvent.OUTCOME_FAILURE
        try:
            self.end_episode(outcome, note)
        except Refused:
            pass
