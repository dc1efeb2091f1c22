# SPDX-License-Identifier: Apache-2.0
"""policy_node: cameras + joint states -> Cosmos Policy -> ActionChunk (docs/INTERFACES.md).

A lifecycle node and a thin adapter: parameters -> :class:`PolicyNodeParams`; sensor callbacks
only store the newest message (:class:`~cosmos_policy_ros.serving.observation.LatestMessages`); one
worker thread owns the model and runs the inference loop timed by
:class:`~cosmos_policy_ros.serving.inference_schedule.InferenceSchedule` (timeline diagram there).
Nothing heavy leaves the node: only chunks, plan scores, status and diagnostics go on the wire.

Lifecycle: ``configure`` loads the model (and the planner when ``planning.num_candidates`` > 1)
and subscribes; ``activate`` runs one warm-up inference on a blank observation, then starts the
loop; ``deactivate`` stops it (the running inference finishes, its chunk is dropped);
``cleanup`` frees the model. ``autostart`` runs configure + activate without a lifecycle manager.

``~/status`` (latched) says why no chunk is produced: inactive, missing/stale/skewed topic (named),
no instruction, or a model error. Its ``mode`` is MODE_POLICY while chunks flow, else MODE_HOLD.
"""
from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image, JointState
from visualization_msgs.msg import MarkerArray

from cosmos_policy_msgs.msg import ActionChunk, PlanCandidates, PolicyStatus
from cosmos_policy_msgs.srv import SetInstruction
from cosmos_policy_ros.control.candidate_paths import EndEffectorPaths
from cosmos_policy_ros.serving.camera_input import model_image
from cosmos_policy_ros.serving.inference_schedule import InferenceSchedule, ScheduleConfig
from cosmos_policy_ros.control.joint_map import JointStateMerger
from cosmos_policy_ros.serving.observation import LatestMessages, ObservationLimits
from cosmos_policy_ros.serving.decision import Decision
from cosmos_policy_ros.serving.policy_runner import (WARMUP_INSTRUCTION, ModelSource, PolicyRunner, ServedModel,
                                                     load_runner)
from cosmos_policy_ros.serving.random_model import RandomInit, random_model
from cosmos_policy_ros.control.watchdog import ValueGate
from cosmos_policy_ros.presets import CameraSpec, RobotPreset, load_preset
from cosmos_policy_ros.ros.compat import add_parameter_callbacks
from cosmos_policy_ros.ros.conversions import (
    NANOSECONDS_PER_SECOND,
    MessageError,
    camera_rgb,
    chunk_message,
    numpy_to_image,
    plan_candidates_message,
    policy_joint_positions,
    stamp_to_seconds,
)
from cosmos_policy_ros.ros.latest_message import SerializedMessage
from cosmos_policy_ros.ros.node_main import run_node
from cosmos_policy_ros.ros.plan_markers import candidate_path_markers
from cosmos_policy_ros.ros.params import NodeParams, ParamSpec
from cosmos_policy_ros.ros.qos import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS

NODE_NAME = "policy_node"
MS_PER_S = 1000.0
RELIABLE_10 = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)  # plan_candidates, diagnostics
LOG_THROTTLE_S = 5.0


@dataclass(frozen=True)
class PolicyNodeParams(NodeParams):
    """The node's parameters (read at configure; ``instruction`` and the limits may change later)."""

    SPECS: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("robot", "sim_arm", "Robot preset: a name under config/robots or a preset YAML path.",
                  read_only=True),
        ParamSpec.of("checkpoint", ModelSource, "checkpoint"),
        ParamSpec("allow_random_init", False, "With an empty checkpoint, build random_init.preset with RANDOM "
                  "weights (tests and timing only: the arm jitters, status says so).", read_only=True),
        ParamSpec.of("random_init.preset", RandomInit, "preset"),
        ParamSpec.of("random_init.action_center", RandomInit, "action_center"),
        ParamSpec.of("random_init.action_half_range", RandomInit, "action_half_range"),
        ParamSpec.of("device", ModelSource, "device"),
        ParamSpec.of("dtype", ModelSource, "dtype"),
        ParamSpec("instruction", "", "Task instruction (also ~/set_instruction); empty = no inference."),
        ParamSpec.of("num_denoising_steps", ModelSource, "num_steps"),
        ParamSpec.of("planning.num_candidates", ModelSource, "num_candidates"),
        ParamSpec.of("planning.mode", ModelSource, "planning_mode"),
        ParamSpec.of("planning_checkpoint", ModelSource, "planning_checkpoint"),
        ParamSpec.of("planning.value_role", ModelSource, "value_role"),
        ParamSpec.of("planning.search_depth", ModelSource, "search_depth"),
        ParamSpec.of("planning.depth_aggregation", ModelSource, "depth_aggregation"),
        ParamSpec("planning.budget_s", 0.0, "Time budget per decision [s]; 0 = execution horizon minus "
                  "timing.margin_s.", min_value=0.0, max_value=60.0),
        ParamSpec.of("imagination.enabled", ModelSource, "imagination"),
        ParamSpec("imagination.tip_link", "", "End-effector link of the candidate paths; empty = the child of "
                  "the last arm joint, followed through fixed joints (e.g. tool_link).", read_only=True),
        ParamSpec("seed", 0, "Base seed of the initial noise (chunk n uses seed + n * num_candidates).",
                  read_only=True, min_value=0),
        ParamSpec.of("observation.max_age_s", ObservationLimits, "max_age_s", read_only=False),
        ParamSpec.of("observation.max_skew_s", ObservationLimits, "max_skew_s", read_only=False),
        ParamSpec("observation.parallel_cameras", True, "Convert and resize the cameras' frames of a decision in "
                  "one thread per camera (the resize releases the GIL); false = one after the other.",
                  read_only=True),
        ParamSpec.of("value_threshold", ValueGate, "threshold", read_only=False),
        ParamSpec.of("timing.margin_s", ScheduleConfig, "margin_s"),
        ParamSpec("timing.idle_period_s", 0.1, "How often the waiting loop re-checks the inputs [s].",
                  read_only=True, min_value=0.001, max_value=5.0),
        ParamSpec("status_period_s", 1.0, "Period of the ~/status and /diagnostics republish [s].",
                  read_only=True, min_value=0.01, max_value=60.0),
        ParamSpec("autostart", False, "Configure and activate at start (no lifecycle manager).", read_only=True),
    )
    robot: str
    checkpoint: str
    allow_random_init: bool
    random_init_preset: str
    random_init_action_center: tuple[float, ...]
    random_init_action_half_range: float
    device: str
    dtype: str
    instruction: str
    num_denoising_steps: int
    planning_num_candidates: int
    planning_mode: str
    planning_checkpoint: str
    planning_value_role: str
    planning_search_depth: int
    planning_depth_aggregation: str
    planning_budget_s: float
    imagination_enabled: bool
    imagination_tip_link: str
    seed: int
    observation_max_age_s: float
    observation_max_skew_s: float
    observation_parallel_cameras: bool
    value_threshold: float
    timing_margin_s: float
    timing_idle_period_s: float
    status_period_s: float
    autostart: bool

    def model_source(self) -> ModelSource:
        return ModelSource(
            checkpoint=self.checkpoint, device=self.device, dtype=self.dtype,
            num_steps=self.num_denoising_steps, num_candidates=self.planning_num_candidates,
            planning_mode=self.planning_mode, search_depth=self.planning_search_depth,
            depth_aggregation=self.planning_depth_aggregation, planning_checkpoint=self.planning_checkpoint,
            value_role=self.planning_value_role, imagination=self.imagination_enabled)

    def served_model(self, preset: RobotPreset) -> ServedModel | None:
        """The explicitly allowed random model for an empty checkpoint; None = serve the checkpoint."""
        if self.checkpoint:
            return None
        if not self.allow_random_init:
            raise ValueError("checkpoint is empty and allow_random_init is false: give a from_pretrained folder")
        init = RandomInit(self.random_init_preset, self.random_init_action_center, self.random_init_action_half_range)
        return random_model(init, preset, self.device, self.dtype)


def _deserialized(message: SerializedMessage, topic: str) -> Any:
    """The camera message a decision reads, built from its bytes now (MessageError if they are not one)."""
    try:
        return message.deserialize()
    except ValueError as err:
        raise MessageError(f"{topic}: {err}") from err


class PolicyNode(LifecycleNode):
    """Lifecycle node running Cosmos Policy (plain or plan-and-select) on the preset's sensors."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        PolicyNodeParams.declare(self)
        self.params = PolicyNodeParams.from_node(self)
        self.preset = load_preset(self.params.robot)
        self._instruction = self.params.instruction
        self._lock = threading.Lock()  # guards the status fields below
        self._reason = "unconfigured"
        self._producing = False
        self._last_value = math.nan
        self._observation_age_s = math.nan
        self._last_timing: dict[str, float] = {}
        self._rejected_inputs = 0  # sensor messages that failed validation (no inference on them)
        self._inputs_received = 0  # observations assembled for inference
        self._planner_fallbacks = 0  # decisions that evaluated fewer candidates than requested
        self._runner: PolicyRunner | None = None
        self._latest: LatestMessages | None = None
        self._schedule: InferenceSchedule | None = None
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self._sequence = 0
        self._sensor_subs: list[Any] = []
        self._camera_pool: ThreadPoolExecutor | None = None
        self._chunk_pub = self._plan_pub = self._paths_pub = None
        self._imagined_pubs: dict[str, Any] = {}
        self._ee_paths: EndEffectorPaths | None = None
        self._status_pub = self.create_publisher(PolicyStatus, "~/status", LATCHED_QOS)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", RELIABLE_10)
        self.create_service(SetInstruction, "~/set_instruction", self._on_set_instruction)
        add_parameter_callbacks(self, self._validate_instruction, self._on_parameters_set)
        self.create_timer(self.params.status_period_s, self._on_status_timer)
        self._publish_status()
        if self.params.autostart:
            # Activate only what configured: from "unconfigured" Humble's and Jazzy's rclpy raise
            # RCLError on activate (rclpy/lifecycle/node.py __change_state); Kilted's logs it.
            if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                self.trigger_activate()
        else:
            self.get_logger().info(f"unconfigured (autostart false): waiting for a lifecycle manager, e.g. "
                                   f"`ros2 lifecycle set {self.get_fully_qualified_name()} configure`")

    # -- lifecycle ------------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the model (+ planner), subscribe the sensors. FAILURE (with the reason) if it cannot."""
        self.params = PolicyNodeParams.from_node(self)
        try:
            source = self.params.model_source()
            self._runner = load_runner(source, self.preset, self.params.served_model(self.preset))
            if self.params.imagination_enabled:
                self._create_imagination_outputs()
        except (OSError, ValueError, KeyError, ImportError, RuntimeError) as error:
            self._set_reason(f"configure failed: {error}")
            self.get_logger().error(self._reason)
            return TransitionCallbackReturn.FAILURE
        if not self.params.checkpoint:
            self.get_logger().warning("RANDOM WEIGHTS (allow_random_init): the chunks are noise around "
                                      "random_init.action_center; for tests and timing only")
        self._subscribe()
        self._chunk_pub = self.create_lifecycle_publisher(ActionChunk, "~/action_chunk", COMMAND_QOS)
        self._plan_pub = self.create_lifecycle_publisher(PlanCandidates, "~/plan_candidates", RELIABLE_10)
        self._set_reason("configured (inactive)")
        self.get_logger().info(f"configured: {self._runner.describe()}")
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Warm up with one inference on a blank observation, then start the inference loop."""
        try:
            warmup_ms = self._runner.warm_up(self.preset, self._instruction or WARMUP_INSTRUCTION)
        except (ValueError, KeyError, RuntimeError) as error:
            self._set_reason(f"warm-up failed: {error}")
            self.get_logger().error(self._reason)
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info(f"active (warm-up inference took {warmup_ms:.0f} ms); chunks start with an "
                               f"instruction and fresh sensors, ~/status says what is missing")
        result = super().on_activate(state)
        self._start_worker()
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop the loop (waits for a running inference; its chunk is not published)."""
        self._stop_worker()
        self._set_reason("inactive")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe and free the model (and its GPU memory)."""
        self._release()
        self._set_reason("unconfigured")
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_worker()
        self._release()
        self._set_reason("shut down")
        return super().on_shutdown(state)

    def close(self) -> None:
        """node_main's stop hook: end the worker while the context is still valid."""
        self._stop_worker()

    def _subscribe(self) -> None:
        topics = tuple(c.topic for c in self.preset.cameras) + (self.preset.joint_states_topic,)
        self._latest = LatestMessages(topics)
        if self.params.observation_parallel_cameras and len(self.preset.cameras) > 1:
            self._camera_pool = ThreadPoolExecutor(len(self.preset.cameras), thread_name_prefix="camera_input")
        for camera in self.preset.cameras:  # raw: frames stay serialized until a decision reads one
            msg_type = CompressedImage if camera.compressed else Image
            self._sensor_subs.append(self.create_subscription(
                msg_type, camera.topic, self._store_raw_callback(camera.topic, msg_type), SENSOR_QOS, raw=True))
        merger = JointStateMerger(self.preset.joints, self.preset.state_sources, self.preset.joint_units)
        for source in self.preset.state_sources:  # ALOHA: one per arm; extra joints are ignored
            self._sensor_subs.append(self.create_subscription(
                JointState, source.topic, self._merge_callback(merger, source.topic), SENSOR_QOS))

    def _merge_callback(self, merger: JointStateMerger, topic: str):
        def merge(message: JointState) -> None:  # stored under joint_states_topic once complete
            try:
                complete = merger.update(topic, message.name, message.position, message.velocity)
            except ValueError as error:
                self._reject_input(f"input rejected, no inference: {error}")
                return
            if complete:
                names, positions, velocities = merger.state()
                merged = JointState(header=message.header, name=names, position=positions, velocity=velocities)
                self._latest.store(self.preset.joint_states_topic, merged, stamp_to_seconds(message.header.stamp))
        return merge

    def _store_raw_callback(self, topic: str, msg_type: type):
        def store(data: bytes) -> None:
            try:
                message = SerializedMessage.from_bytes(data, msg_type)
            except ValueError as error:
                self._reject_input(f"input rejected, no inference: {topic}: {error}")
                return
            self._latest.store(topic, message, message.stamp_s)
        return store

    def _release(self) -> None:
        for subscription in self._sensor_subs:
            self.destroy_subscription(subscription)
        self._sensor_subs.clear()
        if self._camera_pool is not None:
            self._camera_pool.shutdown()
            self._camera_pool = None
        for publisher in (self._chunk_pub, self._plan_pub, self._paths_pub, *self._imagined_pubs.values()):
            if publisher is not None:
                self.destroy_lifecycle_publisher(publisher)
        self._chunk_pub = self._plan_pub = self._paths_pub = self._ee_paths = None
        self._imagined_pubs = {}
        if self._runner is not None:
            self._runner.release()
        self._runner = None

    # -- worker ---------------------------------------------------------------------------------
    def _start_worker(self) -> None:
        horizon_s = self.preset.execute_steps * self.preset.dt_s
        self._schedule = InferenceSchedule(ScheduleConfig(horizon_s=horizon_s, margin_s=self.params.timing_margin_s))
        self._stop.clear()
        self._worker = threading.Thread(target=self._run_loop, name="policy_inference", daemon=True)
        self._worker.start()

    def _stop_worker(self) -> None:
        self._stop.set()
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join()
        self._worker = None

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds / NANOSECONDS_PER_SECOND

    def _run_loop(self) -> None:
        """The inference loop: wait for the start time and new inputs, infer, publish, repeat."""
        used: dict[str, int] = {}
        while not self._stop.is_set():
            wait_s = self._schedule.next_start_s() - self._now_s()
            if wait_s > 0:
                self._stop.wait(min(wait_s, self.params.timing_idle_period_s))
                continue
            fresh = self._latest.wait_for_new(used, self.params.timing_idle_period_s)
            limits = ObservationLimits(self.get_parameter("observation.max_age_s").value,
                                       self.get_parameter("observation.max_skew_s").value)
            assembly = self._latest.assemble(self._now_s(), limits)
            if not assembly.ok or not fresh:
                used = assembly.counts or used  # stale: wait for newer messages, not the same ones
                self._set_reason(assembly.reason or "waiting for new messages on every input")
                continue
            if not self._instruction:
                self._set_reason("no instruction: set the instruction parameter or call ~/set_instruction")
                self._stop.wait(self.params.timing_idle_period_s)
                continue
            used = assembly.counts
            self._infer_and_publish(assembly.messages, assembly.stamp_s, assembly.age_s)

    def _infer_and_publish(self, messages: dict[str, Any], stamp_s: float, age_s: float) -> None:
        started = time.perf_counter()
        with self._lock:
            self._inputs_received += 1
        try:
            images, proprio = self._validated_inputs(messages)
        except MessageError as error:
            self._reject_input(f"input rejected, no inference: {error}")
            return
        try:
            seed = self._runner.decision_seed(self.params.seed, self._sequence)
            decision = self._runner.decide(images, proprio, self._instruction, seed, self._budget_s())
        except (ValueError, KeyError, RuntimeError) as error:
            self._set_reason(f"inference failed: {error}")
            self.get_logger().error(self._reason, throttle_duration_sec=LOG_THROTTLE_S)
            return
        if self._stop.is_set():
            return  # deactivated while inferring: never publish a chunk after deactivate returns
        chunk = chunk_message(decision, self.preset.dt_s, self.preset.execute_steps, stamp_s, self._sequence,
                              self._runner.model_name, self._runner.action_names)
        chunk.call_for_teleop = self._below_threshold(decision.value)
        chunk.inference_time_ms = float((time.perf_counter() - started) * MS_PER_S)
        self._chunk_pub.publish(chunk)
        missed = self._schedule.on_published(stamp_s, self._now_s())
        self._publish_plan(decision, chunk)
        imagination_ms = self._publish_imagination(decision, chunk)
        if missed:
            self.get_logger().warning(f"chunk {self._sequence} published after the previous chunk's horizon",
                                      throttle_duration_sec=LOG_THROTTLE_S)
        with self._lock:
            self._last_value, self._observation_age_s = decision.value, age_s
            self._last_timing = {"model_ms": decision.model_ms, "inference_ms": chunk.inference_time_ms,
                                 "imagination_publish_ms": imagination_ms,
                                 "sequence": float(self._sequence)}
        self._warn_on_fallback(decision)
        self._sequence += 1
        self._set_reason(self._runner.status_note, producing=True)
        self._publish_diagnostics()

    def _reject_input(self, reason: str) -> None:
        """A sensor message that failed validation: counted, in status and diagnostics, WARNed."""
        with self._lock:
            self._rejected_inputs += 1
        self._set_reason(reason)
        self.get_logger().warning(reason, throttle_duration_sec=LOG_THROTTLE_S)
        self._publish_diagnostics()

    def _validated_inputs(self, messages: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """Images (resized to the model's size, once per frame) and proprio of one observation, every
        message validated (MessageError otherwise)."""
        def model_input(camera: CameraSpec) -> np.ndarray:
            rgb = camera_rgb(_deserialized(messages[camera.topic], camera.topic), camera.topic, camera.height,
                             camera.width)
            return model_image(rgb, camera)

        cameras = self.preset.cameras
        frames = self._camera_pool.map(model_input, cameras) if self._camera_pool else map(model_input, cameras)
        images = {camera.name: frame for camera, frame in zip(cameras, frames)}  # raises the first error
        topic = self.preset.joint_states_topic
        return images, policy_joint_positions(messages[topic], topic, self.preset.joints)

    def _warn_on_fallback(self, decision: Decision) -> None:
        """Fewer candidates than asked (the budget did not fit them): WARN (rate-limited) and count."""
        plan = decision.plan
        if not plan.fell_back:
            return
        with self._lock:
            self._planner_fallbacks += 1
        self.get_logger().warning(f"chunk {self._sequence}: planned {plan.num_evaluated} of "
                                  f"{plan.num_requested} candidates ({plan.reason})",
                                  throttle_duration_sec=LOG_THROTTLE_S)

    def _budget_s(self) -> float:
        budget_s = self.get_parameter("planning.budget_s").value
        if budget_s > 0:
            return budget_s
        return max(self._schedule.config.horizon_s - self.params.timing_margin_s, self.preset.dt_s)

    def _publish_plan(self, decision: Decision, chunk: ActionChunk) -> None:
        self._plan_pub.publish(plan_candidates_message(decision.plan, chunk.header, chunk.sequence,
                                                       chunk.call_for_teleop))

    def _create_imagination_outputs(self) -> None:
        """~/imagined/<camera> for each camera; ~/candidate_paths when chunks are joint positions of
        a robot with a description (forward kinematics needs both)."""
        self._imagined_pubs = {c.name: self.create_lifecycle_publisher(Image, f"~/imagined/{c.name}", RELIABLE_10)
                               for c in self.preset.cameras}
        if self.preset.action_space != "joint_position" or not self.preset.urdf:
            self.get_logger().warning(f"imagination: no ~/candidate_paths for robot {self.preset.name!r} "
                                      f"(needs joint_position actions and a urdf)")
            return
        arm = [j for j in self.preset.joints if j not in self.preset.gripper_joints]
        self._ee_paths = EndEffectorPaths(self.preset.urdf_path, self.preset.joints, arm,
                                          self.params.imagination_tip_link)
        self._paths_pub = self.create_lifecycle_publisher(MarkerArray, "~/candidate_paths", RELIABLE_10)

    def _publish_imagination(self, decision: Decision, chunk: ActionChunk) -> float:
        """After the chunk went out: the decision's imagined future images (decoded now) and
        candidate paths, stamped like its chunk; returns the time it took [ms] (NaN when off)."""
        if decision.imagine is None:
            return math.nan
        started = time.perf_counter()
        for camera, image in decision.imagine().items():
            self._imagined_pubs[camera].publish(numpy_to_image(image, header=chunk.header))
        if self._ee_paths is not None:
            paths = self._ee_paths.positions(decision.candidate_actions)
            self._paths_pub.publish(candidate_path_markers(paths, np.asarray(decision.plan.values),
                                                           decision.candidate_index, self._ee_paths.root_link,
                                                           chunk.header.stamp))
        return (time.perf_counter() - started) * MS_PER_S

    def _below_threshold(self, value: float) -> bool:
        return ValueGate(self.get_parameter("value_threshold").value).calls_for_teleop(value)

    # -- status, diagnostics, instruction -------------------------------------------------------
    def _set_reason(self, reason: str, producing: bool = False) -> None:
        """Record why chunks are (not) produced; status is republished on every change."""
        with self._lock:
            changed = reason != self._reason or producing != self._producing
            self._reason, self._producing = reason, producing
        if changed:
            self._publish_status()

    def _publish_status(self) -> None:
        with self._lock:
            msg = PolicyStatus(
                mode=PolicyStatus.MODE_POLICY if self._producing else PolicyStatus.MODE_HOLD,
                reason=self._reason, source=NODE_NAME, last_value=float(self._last_value),
                observation_age_s=float(self._observation_age_s),
                deadline_misses=self._schedule.deadline_misses if self._schedule else 0,
                call_for_teleop=self._below_threshold(self._last_value),
                model_name=self._runner.model_name if self._runner else "", instruction=self._instruction,
                inputs_received=self._inputs_received, rejected_inputs=self._rejected_inputs)
        msg.header.stamp = self.get_clock().now().to_msg()
        self._status_pub.publish(msg)

    def _publish_diagnostics(self) -> None:
        with self._lock:
            values = {**self._last_timing, "observation_age_s": self._observation_age_s,
                      "rejected_inputs": float(self._rejected_inputs),
                      "deadline_misses": float(self._schedule.deadline_misses if self._schedule else 0),
                      "planner_fallbacks": float(self._planner_fallbacks),
                      "expected_latency_s": self._schedule.expected_latency_s if self._schedule else math.nan}
            level = DiagnosticStatus.OK if self._producing else DiagnosticStatus.WARN
            message = self._reason or "producing chunks"
        status = DiagnosticStatus(level=level, name=f"{self.get_name()}: inference", message=message,
                                  hardware_id=self._runner.device_name if self._runner else "",
                                  values=[KeyValue(key=k, value=f"{v:.6g}") for k, v in values.items()])
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(msg)

    def _on_status_timer(self) -> None:
        self._publish_status()
        self._publish_diagnostics()

    def _validate_instruction(self, parameters: list[Parameter]) -> SetParametersResult:
        """Reject an instruction the model cannot embed (e.g. not in a T5 model's cache)."""
        for parameter in parameters:
            if parameter.name == "instruction" and self._runner is not None:
                problem = self._runner.check_instruction(parameter.value)
                if problem:
                    return SetParametersResult(successful=False, reason=problem)
        return SetParametersResult(successful=True)

    def _on_parameters_set(self, parameters: list[Parameter]) -> None:
        for parameter in parameters:
            if parameter.name == "instruction" and parameter.value != self._instruction:
                with self._lock:
                    self._instruction = parameter.value
                self.get_logger().info(f"instruction: {parameter.value!r}")
                self._publish_status()

    def _on_set_instruction(self, request: SetInstruction.Request,
                            response: SetInstruction.Response) -> SetInstruction.Response:
        """The service is the parameter's twin: both go through the same validation."""
        result = self.set_parameters([Parameter("instruction", value=request.instruction)])[0]
        response.success, response.message = result.successful, result.reason or "ok"
        return response


def main(args: list[str] | None = None) -> None:
    """Run the node (SIGINT/SIGTERM stop the worker first, then shut down cleanly)."""
    # One executor thread: sensor callbacks only store messages and inference has its own worker
    # thread, while rclpy's MultiThreadedExecutor would busy-poll a core (see command_arbiter).
    run_node(PolicyNode, args, num_threads=1)


if __name__ == "__main__":
    main()
