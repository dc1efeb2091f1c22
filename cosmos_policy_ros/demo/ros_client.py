# SPDX-License-Identifier: Apache-2.0
"""The demo's own ROS node: drives episodes through services, watches topics, keeps what it measures.

It plays the role of the person at the keyboard: reset the sim, pick the teleoperator, switch the
arbiter's mode, start/end recorded episodes, set the instruction. Everything it reports comes from
the running nodes (task events, arbiter status, the policy's chunks and plan candidates).
Threads: the executor spins in a background thread; the caller's (episode runner's) thread
blocks on service futures and on :meth:`wait_until`. Shared lists are guarded by one lock.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import rclpy
from rcl_interfaces.srv import SetParameters
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger

from cosmos_policy_msgs.msg import ActionChunk, EpisodeEvent, PlanCandidates, PolicyStatus
from cosmos_policy_msgs.srv import EndEpisode, ResetTask, SetInstruction, SetMode, StartEpisode

from ..ros.conversions import image_to_numpy, stamp_to_seconds
from ..ros.dds_env import apply_local_dds_defaults
from ..ros.qos import COMMAND_QOS, EVENTS_QOS, LATCHED_QOS, SENSOR_QOS

NODE_NAME = "demo_driver"
RELIABLE_10 = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
WAIT_POLL_S = 0.01


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
    frames: list[np.ndarray] = field(default_factory=list)


class DemoClient(Node):
    """Service clients and topic monitors of the demo graph (names from docs/INTERFACES.md).

    Args:
        preset_camera_topic: topic of the camera recorded into the GIF (frames kept while
            ``capture_frames`` is set).
        service_timeout_s: wall-clock limit of one service call.
    """

    def __init__(self, preset_camera_topic: str, service_timeout_s: float = 20.0) -> None:
        super().__init__(NODE_NAME, parameter_overrides=[Parameter("use_sim_time", value=True)])
        self.service_timeout_s = service_timeout_s
        self._lock = threading.Lock()
        self.observed = Observed()
        self.capture_frames = False
        self.last_arbiter_status: PolicyStatus | None = None
        self.last_policy_status: PolicyStatus | None = None
        self._service_clients: dict[str, Any] = {}
        self.create_subscription(EpisodeEvent, "task/events", self._keep("events"), EVENTS_QOS)
        self.create_subscription(ActionChunk, "/policy_node/action_chunk", self._on_chunk, COMMAND_QOS)
        self.create_subscription(PlanCandidates, "/policy_node/plan_candidates", self._on_plan, RELIABLE_10)
        self.create_subscription(PolicyStatus, "/command_arbiter/status", self._on_arbiter, LATCHED_QOS)
        self.create_subscription(PolicyStatus, "/policy_node/status", self._on_policy_status, LATCHED_QOS)
        self.create_subscription(Image, preset_camera_topic, self._on_image, SENSOR_QOS)

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
            self.last_arbiter_status = msg
            self.observed.arbiter.append((self.now_s(), msg))

    def _on_policy_status(self, msg: PolicyStatus) -> None:
        self.last_policy_status = msg

    def _on_image(self, msg: Image) -> None:
        if self.capture_frames:
            frame = image_to_numpy(msg)
            with self._lock:
                self.observed.frames.append(frame)

    def take_observed(self) -> Observed:
        """Everything observed since the last call (and start afresh)."""
        with self._lock:
            observed, self.observed = self.observed, Observed()
        return observed

    def peek(self, getter: Callable[[Observed], Any]) -> Any:
        with self._lock:
            return getter(self.observed)

    # --- services -------------------------------------------------------------------------------
    def call(self, service_type: Any, name: str, request: Any, timeout_s: float | None = None) -> Any:
        """Call ``name`` and wait for the answer (the executor runs in another thread)."""
        client = self._service_clients.get(name)
        if client is None:
            client = self._service_clients[name] = self.create_client(service_type, name)
        timeout_s = self.service_timeout_s if timeout_s is None else timeout_s
        if not client.wait_for_service(timeout_sec=timeout_s):
            raise TimeoutError(f"service {name} is not available after {timeout_s} s")
        future = client.call_async(request)
        deadline = time.monotonic() + timeout_s
        while not future.done():
            if time.monotonic() > deadline:
                client.remove_pending_request(future)
                raise TimeoutError(f"service {name} did not answer within {timeout_s} s")
            time.sleep(WAIT_POLL_S)
        return future.result()

    def set_mode(self, mode: int, reason: str) -> None:
        response = self.call(SetMode, "/command_arbiter/set_mode", SetMode.Request(mode=mode, reason=reason))
        if not response.success:
            raise RuntimeError(f"arbiter refused mode {mode}: {response.message}")

    def reset_task(self, task: str, seed: int, target: str = "") -> str:
        """Reset the sim to a new episode (``target``: another block of the seed's scene); returns
        its instruction."""
        response = self.call(ResetTask, "/sim_arm/reset_task", ResetTask.Request(task=task, seed=seed, target=target))
        if not response.success:
            raise RuntimeError(f"sim reset failed: {response.message}")
        return response.message

    def set_instruction(self, instruction: str) -> None:
        response = self.call(SetInstruction, "/policy_node/set_instruction",
                             SetInstruction.Request(instruction=instruction))
        if not response.success:
            raise RuntimeError(f"policy_node refused the instruction: {response.message}")

    def set_parameters(self, node: str, values: dict[str, Any]) -> None:
        request = SetParameters.Request(parameters=[Parameter(k, value=v).to_parameter_msg()
                                                    for k, v in values.items()])
        response = self.call(SetParameters, f"/{node}/set_parameters", request)
        failed = [r.reason for r in response.results if not r.successful]
        if failed:
            raise RuntimeError(f"{node} refused parameters {values}: {failed}")

    def restart_expert(self, node: str, task: str, seed: int, enabled: bool) -> None:
        self.set_parameters(node, {"task": task, "seed": seed, "enabled": enabled})
        self.call(Trigger, f"/{node}/reset", Trigger.Request())

    def start_episode(self, instruction: str, note: str) -> str:
        """Start a recorded episode; ``instruction`` is the text the policy trains on."""
        request = StartEpisode.Request(task=instruction, note=note)
        response = self.call(StartEpisode, "/recorder/start_episode", request)
        if not response.success:
            raise RuntimeError(f"recorder refused to start an episode: {response.message}")
        return response.episode_id

    def end_episode(self, success: bool, note: str) -> None:
        """End the recorded episode (already ended by the task's END event is fine)."""
        outcome = EndEpisode.Request.OUTCOME_SUCCESS if success else EndEpisode.Request.OUTCOME_FAILURE
        self.call(EndEpisode, "/recorder/end_episode", EndEpisode.Request(outcome=outcome, note=note))

    def wait_until(self, predicate: Callable[[], bool], timeout_s: float,
                   what: str | Callable[[], str]) -> None:
        """Block (wall clock) until ``predicate()``; TimeoutError naming ``what`` (or ``what()``)."""
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                waited_for = what() if callable(what) else what
                raise TimeoutError(f"timed out after {timeout_s} s waiting for {waited_for}")
            time.sleep(WAIT_POLL_S)


class SpinningClient:
    """Context manager: rclpy context + :class:`DemoClient` spun in a background thread."""

    def __init__(self, camera_topic: str) -> None:
        self.camera_topic = camera_topic
        self.node: DemoClient | None = None
        self._executor: MultiThreadedExecutor | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> DemoClient:
        apply_local_dds_defaults()
        rclpy.init()
        self.node = DemoClient(self.camera_topic)
        self._executor = MultiThreadedExecutor(num_threads=2)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._executor.spin, daemon=True)
        self._thread.start()
        return self.node

    def __exit__(self, *exc: object) -> None:
        self._executor.shutdown()
        self._thread.join()
        self.node.destroy_node()
        rclpy.try_shutdown()
