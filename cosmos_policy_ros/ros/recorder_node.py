# SPDX-License-Identifier: Apache-2.0
"""recorder_node (node ``recorder``): records the robot's topics to rosbag2 MCAP, one bag per episode.

Subscriptions take the raw CDR bytes (``raw=True``: exactly what rosbag2 stores, no
conversion) and only enqueue them; a :class:`BagWriterThread` writes them to
``<output_dir>/<episode_id>/`` and flushes at least every ``flush_period_s``. A full queue drops
the message, counts it, logs a throttled warning and shows up on ``/diagnostics``.

Episodes start and end by ``~/start_episode`` / ``~/end_episode`` (or a task END event on
``task/events`` when ``end_on_task_event``). The recorder writes its own EpisodeEvent START/END
(with the outcome) and INTERVENTION_START/END (the arbiter went POLICY -> TELEOP and back) to
``~/events``, both published and recorded, so every bag carries its outcome and interventions.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from cosmos_policy_msgs.msg import ActionChunk, EpisodeEvent, PlanCandidates, PolicyStatus
from cosmos_policy_msgs.srv import EndEpisode, StartEpisode
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CompressedImage, Image, JointState
from trajectory_msgs.msg import JointTrajectory

from ..data import message_types as mt
from ..data.bag_writer import BagWriterThread
from ..presets import load_preset
from .node_main import run_node
from .params import NodeParams, ParamSpec
from .qos import EVENTS_QOS, LATCHED_QOS

NODE_NAME = "recorder"
MSGTYPE = {Image: mt.IMAGE, CompressedImage: mt.COMPRESSED_IMAGE, JointState: mt.JOINT_STATE,
           JointTrajectory: mt.JOINT_TRAJECTORY, ActionChunk: mt.ACTION_CHUNK,
           PlanCandidates: mt.PLAN_CANDIDATES, PolicyStatus: mt.POLICY_STATUS,
           EpisodeEvent: mt.EPISODE_EVENT}
# Events of the task/arbiter streams the recorder reacts to (besides recording them).
REACT_STATUS, REACT_TASK_EVENT = "status", "task_event"


@dataclass(frozen=True)
class RecorderParams(NodeParams):
    SPECS: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("robot", "sim_arm", "Robot preset (cameras, joint states, controller and teleop "
                  "topics are recorded).", read_only=True),
        ParamSpec("output_dir", "bags", "Folder that receives one bag folder per episode.",
                  read_only=True),
        ParamSpec("status_topic", "/command_arbiter/status", "PolicyStatus topic with the mode.",
                  read_only=True),
        ParamSpec("task_events_topic", "task/events", "EpisodeEvent topic of the task (sim).",
                  read_only=True),
        ParamSpec("action_chunk_topic", "/policy_node/action_chunk", "ActionChunk topic.",
                  read_only=True),
        ParamSpec("plan_candidates_topic", "/policy_node/plan_candidates", "PlanCandidates topic.",
                  read_only=True),
        ParamSpec("queue_size", 2000, "Messages the writer queue holds; beyond, messages are "
                  "dropped and counted.", read_only=True, min_value=1),
        ParamSpec("sensor_queue_depth", 50, "Keep-last depth of the best-effort sensor "
                  "subscriptions (absorbs bursts).", read_only=True, min_value=1),
        ParamSpec("flush_period_s", 0.5, "Longest time a received message stays in memory "
                  "(bounds what kill -9 loses) [s].", read_only=True, min_value=0.05, max_value=1.0),
        ParamSpec("diagnostics_period_s", 1.0, "Period of the /diagnostics report [s].",
                  read_only=True, min_value=0.1),
        ParamSpec("autostart_episode", False, "Start an episode as soon as the node is up.",
                  read_only=True),
        ParamSpec("autostart_task", "", "Task text of the autostarted episode.", read_only=True),
        ParamSpec("end_on_task_event", True, "A task END event (task/events) ends the episode "
                  "with its outcome."),
    )
    robot: str
    output_dir: str
    status_topic: str
    task_events_topic: str
    action_chunk_topic: str
    plan_candidates_topic: str
    queue_size: int
    sensor_queue_depth: int
    flush_period_s: float
    diagnostics_period_s: float
    autostart_episode: bool
    autostart_task: str
    end_on_task_event: bool


def recorded_topics(params: RecorderParams) -> list[tuple[str, type, str]]:
    """(topic, message class, qos kind) of every recorded topic: "sensor" | "reliable" | "latched"."""
    preset = load_preset(params.robot)
    topics = [(c.topic, CompressedImage if c.compressed else Image, "sensor") for c in preset.cameras]
    topics += [(preset.joint_states_topic, JointState, "sensor"),
               (preset.controller_topic, JointTrajectory, "reliable"),
               (preset.teleop_topic, JointTrajectory, "reliable"),
               (params.action_chunk_topic, ActionChunk, "reliable"),
               (params.plan_candidates_topic, PlanCandidates, "reliable"),
               (params.status_topic, PolicyStatus, "latched"),
               (params.task_events_topic, EpisodeEvent, "reliable")]
    return topics


class RecorderNode(Node):
    """See the module docstring. ``close()`` must run before destruction (run_node does it)."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        RecorderParams.declare(self)
        self.params = RecorderParams.from_node(self)
        self._writer = BagWriterThread(self.params.queue_size, self.params.flush_period_s)
        self._episode_id = ""
        self._episode_task = ""
        self._episode_count = 0
        self._session = time.strftime("%Y%m%d_%H%M%S")
        self._mode: int | None = None
        self._intervening = False
        self._events_pub = self.create_publisher(EpisodeEvent, "~/events", EVENTS_QOS)
        self._events_topic = self._events_pub.topic_name
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        qos = {"sensor": QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self.params.sensor_queue_depth,
                                    reliability=ReliabilityPolicy.BEST_EFFORT),
               "reliable": EVENTS_QOS, "latched": LATCHED_QOS}
        reactions = {self.params.status_topic: REACT_STATUS, self.params.task_events_topic: REACT_TASK_EVENT}
        self._subs = [self._subscribe(topic, cls, qos[kind], reactions.get(topic))
                      for topic, cls, kind in recorded_topics(self.params)]
        self.create_service(StartEpisode, "~/start_episode", self._on_start_episode)
        self.create_service(EndEpisode, "~/end_episode", self._on_end_episode)
        self.create_timer(self.params.diagnostics_period_s, self._publish_diagnostics)
        self.get_logger().info(f"recording {len(self._subs)} topics to {self.params.output_dir}/")
        if self.params.autostart_episode:
            self.start_episode(self.params.autostart_task, "autostart")

    def _subscribe(self, topic: str, cls: type, qos: QoSProfile, reaction: str | None):
        holder: dict = {}

        def on_message(raw: bytes) -> None:
            if not self._episode_id:
                return
            now_ns = self.get_clock().now().nanoseconds
            if not self._writer.enqueue(holder["topic"], MSGTYPE[cls], now_ns, raw):
                self.get_logger().warning(
                    f"writer queue full: dropped a message on {holder['topic']} "
                    f"({self._writer.stats.dropped_queue_full} dropped so far)", throttle_duration_sec=1.0)
            if reaction:
                self._react(reaction, deserialize_message(raw, cls))

        sub = self.create_subscription(cls, topic, on_message, qos, raw=True)
        holder["topic"] = sub.topic_name  # the resolved absolute name goes into the bag
        return sub

    # -- episodes -----------------------------------------------------------------------------
    def start_episode(self, task: str, note: str) -> str:
        self._episode_count += 1
        self._episode_id = f"{self._session}_ep{self._episode_count:04d}"
        self._episode_task = task
        self._writer.open_episode(Path(self.params.output_dir) / self._episode_id)
        self._writer.set_custom_data("episode_id", self._episode_id)
        self._writer.set_custom_data("task", task)
        self._emit(EpisodeEvent.START, note=note)
        self.get_logger().info(f"episode {self._episode_id} started (task {task!r})")
        return self._episode_id

    def end_episode(self, outcome: int, score: float, note: str, publish: bool = True) -> str:
        episode_id = self._episode_id
        self._emit(EpisodeEvent.END, outcome=outcome, score=score, note=note, publish=publish)
        self._writer.set_custom_data("outcome", str(outcome))
        self._writer.close_episode()
        self._episode_id, self._intervening = "", False
        self.get_logger().info(f"episode {episode_id} ended (outcome {outcome})")
        return episode_id

    def _emit(self, event: int, outcome: int = 0, score: float = float("nan"), note: str = "",
              publish: bool = True) -> None:
        """Record an EpisodeEvent in the current bag (and publish it on ~/events)."""
        now = self.get_clock().now()
        record = mt.make_episode_event(self._writer.typestore, now.nanoseconds, event, self._episode_id,
                                       outcome=outcome, score=score, task=self._episode_task, note=note)
        self._writer.enqueue_object(self._events_topic, mt.EPISODE_EVENT, now.nanoseconds, record)
        if publish:
            msg = EpisodeEvent(event=event, episode_id=self._episode_id, outcome=outcome, score=score,
                               task=self._episode_task, note=note)
            msg.header.stamp = now.to_msg()
            self._events_pub.publish(msg)

    def _on_start_episode(self, request, response):
        if self._episode_id:
            response.success, response.message = False, f"episode {self._episode_id} is running"
            response.episode_id = self._episode_id
            return response
        response.episode_id = self.start_episode(request.task, request.note)
        response.success, response.message = True, "recording"
        return response

    def _on_end_episode(self, request, response):
        if not self._episode_id:
            response.success, response.message = False, "no episode is running"
            return response
        response.episode_id = self.end_episode(request.outcome, request.score, request.note)
        response.success, response.message = True, "bag closed"
        return response

    def _react(self, reaction: str, msg) -> None:
        if reaction == REACT_TASK_EVENT:
            if msg.event == EpisodeEvent.END and self.params.end_on_task_event:
                self.end_episode(msg.outcome, msg.score, f"task event: {msg.note}")
            return
        previous, self._mode = self._mode, msg.mode
        if previous == PolicyStatus.MODE_POLICY and msg.mode == PolicyStatus.MODE_TELEOP:
            self._intervening = True
            self._emit(EpisodeEvent.INTERVENTION_START, note=msg.reason)
        elif self._intervening and msg.mode == PolicyStatus.MODE_POLICY:
            self._intervening = False
            self._emit(EpisodeEvent.INTERVENTION_END, note=msg.reason)

    # -- reporting and shutdown ---------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        stats = self._writer.stats
        trouble = stats.dropped_queue_full or stats.write_errors
        status = DiagnosticStatus(
            name=f"{self.get_name()}: bag writer", hardware_id=self.params.output_dir,
            level=DiagnosticStatus.WARN if trouble else DiagnosticStatus.OK,
            message="dropping messages: writer queue full" if stats.dropped_queue_full else "ok",
            values=[KeyValue(key=k, value=str(v)) for k, v in (
                ("episode_id", self._episode_id), ("written", stats.written),
                ("dropped_queue_full", stats.dropped_queue_full), ("write_errors", stats.write_errors),
                ("queue_depth", self._writer.queue_depth))])
        diag = DiagnosticArray(status=[status])
        diag.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(diag)

    def close(self) -> None:
        """run_node's shutdown hook: end a running episode (outcome unknown), write everything
        queued and close the bag."""
        if self._episode_id:
            self.end_episode(EpisodeEvent.OUTCOME_UNKNOWN, float("nan"), "recorder stopped", publish=False)
        self._writer.stop()
        stats = self._writer.stats
        self.get_logger().info(f"recorder stopped: {stats.written} written, "
                               f"{stats.dropped_queue_full} dropped (queue full)")


def main(args: list[str] | None = None) -> None:
    """Portable main; one thread runs every callback (SIGINT and SIGTERM both close the bag)."""
    run_node(RecorderNode, args, num_threads=1)


if __name__ == "__main__":
    main()
