# SPDX-License-Identifier: Apache-2.0
"""recorder_node (node ``recorder``): records the robot's topics to rosbag2 MCAP, one bag per episode.

Subscriptions take the raw CDR bytes (``raw=True``: exactly what rosbag2 stores, no
conversion) and only enqueue them; a :class:`BagWriterThread` writes them to
``<output_dir>/<episode_id>/`` and flushes at least every ``flush_period_s``. A full queue drops
the message, counts it, logs a throttled warning and shows up on ``/diagnostics``.
``max_bag_size`` / ``max_bag_duration_s`` split an episode's bag into files as rosbag2 does
(:class:`~cosmos_policy_ros.data.bag_writer.SplitLimits`): hours of 80 MB/s camera streams need not
sit on one disk until the episode ends.

Episodes, as LeRobot's recorder runs them: an episode starts by ``~/start_episode`` (or at once
with ``autostart_episode``; ``num_episodes`` > 0 records that many back to back) and ends by
``~/end_episode`` with the operator's outcome label, by a task END event on ``task/events``
(``end_on_task_event``), or after ``max_episode_s`` with ``timeout_outcome``. After each end the
recorder waits ``reset_period_s`` (state ``resetting``, nothing recorded) before the next
automatic episode. ``~/discard_episode`` throws away the running episode (else the last one) and
records it again. ``~/status`` (DiagnosticStatus, latched) reports the state, episode, duration,
bag size and counts every ``status_period_s`` and on every change. Durations follow the node
clock, so ``use_sim_time`` recordings time out on sim time.

The recorder writes its own EpisodeEvent START/END (with the outcome) and INTERVENTION_START/END
(the arbiter went POLICY -> TELEOP and back) to ``~/events``, both published and recorded, so
every bag carries its outcome and interventions; the outcome is also the bag's ``custom_data``
(``cosmos-policy relabel`` changes it there).
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
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from cosmos_policy_ros.data import message_types as mt
from cosmos_policy_ros.data.bag_labels import OUTCOME_BY_NAME
from cosmos_policy_ros.data.bag_writer import BagWriterThread, SplitLimits
from cosmos_policy_ros.presets import load_preset
from cosmos_policy_ros.ros.conversions import NANOSECONDS_PER_SECOND as NS_PER_S
from cosmos_policy_ros.ros.node_main import run_node
from cosmos_policy_ros.ros.params import NodeParams, ParamSpec
from cosmos_policy_ros.ros.qos import EVENTS_QOS, LATCHED_QOS

NODE_NAME = "recorder"
MSGTYPE = {Image: mt.IMAGE, CompressedImage: mt.COMPRESSED_IMAGE, JointState: mt.JOINT_STATE,
           JointTrajectory: mt.JOINT_TRAJECTORY, ActionChunk: mt.ACTION_CHUNK,
           PlanCandidates: mt.PLAN_CANDIDATES, PolicyStatus: mt.POLICY_STATUS,
           EpisodeEvent: mt.EPISODE_EVENT}
# Events of the task/arbiter streams the recorder reacts to (besides recording them).
REACT_STATUS, REACT_TASK_EVENT = "status", "task_event"
OUTCOME_NAMES = {value: name for name, value in OUTCOME_BY_NAME.items()}
# Recorder states on ~/status.
IDLE, RECORDING, RESETTING, DONE = "idle", "recording", "resetting", "done"


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
        ParamSpec("max_bag_size", 0, "Split an episode bag into files of about this many bytes, as "
                  "rosbag2's --max-bag-size (<episode>_0.mcap, _1, ...; a closed file is complete and "
                  "may be moved away while recording goes on); 0 = one file per episode [bytes].",
                  read_only=True, min_value=0),
        ParamSpec("max_bag_duration_s", 0.0, "Split an episode bag into files spanning at most this "
                  "long (receive time), as rosbag2's --max-bag-duration; 0 = no limit [s].",
                  read_only=True, min_value=0.0),
        ParamSpec("flush_period_s", 0.5, "Longest time a received message stays in memory "
                  "(bounds what kill -9 loses) [s].", read_only=True, min_value=0.05, max_value=1.0),
        ParamSpec("diagnostics_period_s", 1.0, "Period of the /diagnostics report [s].",
                  read_only=True, min_value=0.1),
        ParamSpec("autostart_episode", False, "Start an episode as soon as the node is up.",
                  read_only=True),
        ParamSpec("autostart_task", "", "Task text of the autostarted episode.", read_only=True),
        ParamSpec("end_on_task_event", True, "A task END event (task/events) ends the episode "
                  "with its outcome."),
        ParamSpec("num_episodes", 0, "Record this many episodes back to back (each after the reset "
                  "period); 0 = episodes start only by ~/start_episode.", read_only=True, min_value=0),
        ParamSpec("max_episode_s", 0.0, "An episode ends after this long on the node clock; 0 = no "
                  "limit [s]; checked every status_period_s.", read_only=True, min_value=0.0),
        ParamSpec("timeout_outcome", "failure", "Outcome of an episode that reached max_episode_s "
                  "(a task not done in time failed).", read_only=True, choices=tuple(OUTCOME_BY_NAME)),
        ParamSpec("reset_period_s", 0.0, "Time after an episode ends before the next automatic "
                  "episode starts (the scene is reset; nothing is recorded) [s].", read_only=True,
                  min_value=0.0),
        ParamSpec("status_period_s", 0.5, "Period of the ~/status report [s].", read_only=True,
                  min_value=0.05),
    )
    robot: str
    output_dir: str
    status_topic: str
    task_events_topic: str
    action_chunk_topic: str
    plan_candidates_topic: str
    queue_size: int
    sensor_queue_depth: int
    max_bag_size: int
    max_bag_duration_s: float
    flush_period_s: float
    diagnostics_period_s: float
    autostart_episode: bool
    autostart_task: str
    end_on_task_event: bool
    num_episodes: int
    max_episode_s: float
    timeout_outcome: str
    reset_period_s: float
    status_period_s: float


def recorded_topics(params: RecorderParams) -> list[tuple[str, type, str]]:
    """(topic, message class, qos kind) of every recorded topic: "sensor" | "reliable" | "latched"."""
    preset = load_preset(params.robot)
    topics = [(c.topic, CompressedImage if c.compressed else Image, "sensor") for c in preset.cameras]
    # Every joint-state source as the drivers publish it (ALOHA: one topic per arm).
    topics += [(source.topic, JointState, "sensor") for source in preset.state_sources]
    topics += [(preset.controller_topic, JointTrajectory, "reliable"),
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
        split = SplitLimits(self.params.max_bag_size, int(self.params.max_bag_duration_s * NS_PER_S))
        self._writer = BagWriterThread(self.params.queue_size, self.params.flush_period_s, split=split)
        self._episode_id = ""
        self._episode_task = ""
        self._episode_count = 0
        self._episode_path: Path | None = None
        self._episode_start_ns = 0
        self._state = IDLE
        self._reset_until_ns = 0
        self._last_episode: tuple[str, Path] | None = None  # the last ended episode, for discard
        self._last_outcome = ""
        self._kept = 0
        self._discarded = 0
        self._session = time.strftime("%Y%m%d_%H%M%S")
        self._mode: int | None = None
        self._intervening = False
        self._events_pub = self.create_publisher(EpisodeEvent, "~/events", EVENTS_QOS)
        self._events_topic = self._events_pub.topic_name
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._status_pub = self.create_publisher(DiagnosticStatus, "~/status", LATCHED_QOS)
        qos = {"sensor": QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self.params.sensor_queue_depth,
                                    reliability=ReliabilityPolicy.BEST_EFFORT),
               "reliable": EVENTS_QOS, "latched": LATCHED_QOS}
        reactions = {self.params.status_topic: REACT_STATUS, self.params.task_events_topic: REACT_TASK_EVENT}
        self._subs = [self._subscribe(topic, cls, qos[kind], reactions.get(topic))
                      for topic, cls, kind in recorded_topics(self.params)]
        self.create_service(StartEpisode, "~/start_episode", self._on_start_episode)
        self.create_service(EndEpisode, "~/end_episode", self._on_end_episode)
        self.create_service(Trigger, "~/discard_episode", self._on_discard_episode)
        self.create_timer(self.params.diagnostics_period_s, self._publish_diagnostics)
        self.create_timer(self.params.status_period_s, self._on_status_timer)
        self.get_logger().info(f"recording {len(self._subs)} topics to {self.params.output_dir}/")
        if self.params.autostart_episode or self.params.num_episodes:
            self.start_episode(self.params.autostart_task, "autostart")
        else:
            self._publish_status()

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
        self._episode_path = Path(self.params.output_dir) / self._episode_id
        self._episode_start_ns = self.get_clock().now().nanoseconds
        self._state = RECORDING
        self._writer.open_episode(self._episode_path)
        self._writer.set_custom_data("episode_id", self._episode_id)
        self._writer.set_custom_data("task", task)
        self._emit(EpisodeEvent.START, note=note)
        self.get_logger().info(f"episode {self._episode_id} started (task {task!r})")
        self._publish_status()
        return self._episode_id

    def end_episode(self, outcome: int, score: float, note: str, publish: bool = True) -> str:
        episode_id = self._episode_id
        self._emit(EpisodeEvent.END, outcome=outcome, score=score, note=note, publish=publish)
        self._writer.set_custom_data("outcome", str(outcome))
        self._writer.close_episode()
        self._last_episode = (episode_id, self._episode_path)
        self._last_outcome = OUTCOME_NAMES.get(outcome, str(outcome))
        self._kept += 1
        self._finish_episode()
        self.get_logger().info(f"episode {episode_id} ended ({self._last_outcome}: {note})")
        return episode_id

    def discard_episode(self) -> str:
        """Delete the running episode's bag (else the last ended one); it is recorded again."""
        if self._episode_id:
            episode_id, path = self._episode_id, self._episode_path
            self._emit(EpisodeEvent.END, note="discarded")
        elif self._last_episode is not None:
            (episode_id, path), self._kept = self._last_episode, self._kept - 1
            self._last_episode = None
        else:
            raise ValueError("no episode to discard")
        self._writer.discard_episode(path)
        self._discarded += 1
        self._last_outcome = "discarded"
        self._finish_episode()
        self.get_logger().info(f"episode {episode_id} discarded")
        return episode_id

    def _finish_episode(self) -> None:
        """The episode is over (kept or discarded): reset period, then the next automatic one."""
        self._episode_id, self._episode_path, self._intervening = "", None, False
        self._state = RESETTING
        self._reset_until_ns = (self.get_clock().now().nanoseconds
                                + int(self.params.reset_period_s * NS_PER_S))
        self._publish_status()

    def _more_automatic_episodes(self) -> bool:
        return self._kept < self.params.num_episodes

    def _on_status_timer(self) -> None:
        """Time limit, end of the reset period, and the periodic ~/status."""
        now_ns = self.get_clock().now().nanoseconds
        limit_s = self.params.max_episode_s
        if self._state == RECORDING and limit_s and now_ns - self._episode_start_ns >= limit_s * NS_PER_S:
            self.end_episode(OUTCOME_BY_NAME[self.params.timeout_outcome], float("nan"),
                             f"max_episode_s={limit_s:g} reached")
        elif self._state == RESETTING and now_ns >= self._reset_until_ns:
            if self._more_automatic_episodes():
                self.start_episode(self.params.autostart_task, "next episode")
            else:
                self._state = DONE if self.params.num_episodes else IDLE
        self._publish_status()

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
            response.success, response.message = False, f"no episode is running (recorder {self._state})"
            return response
        if request.outcome not in OUTCOME_NAMES:
            response.success, response.message = False, f"unknown outcome {request.outcome}"
            return response
        response.episode_id = self.end_episode(request.outcome, request.score, request.note)
        response.success = True
        response.message = f"{response.episode_id} ended: {OUTCOME_NAMES[request.outcome]}"
        return response

    def _on_discard_episode(self, _request, response):
        try:
            response.message = f"{self.discard_episode()} discarded"
            response.success = True
        except ValueError as err:
            response.success, response.message = False, str(err)
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
    def _publish_status(self) -> None:
        """~/status: what is being recorded right now (the console's recorder line)."""
        if not self.context.ok():  # the shutdown hook ends the episode after rclpy shut down
            return
        now_ns = self.get_clock().now().nanoseconds
        recording = self._state == RECORDING
        path = self._episode_path if recording else (self._last_episode or ("", None))[1]
        values = {
            "state": self._state, "episode_id": self._episode_id, "task": self._episode_task,
            "duration_s": f"{(now_ns - self._episode_start_ns) / NS_PER_S:.1f}" if recording else "0.0",
            "size_bytes": str(folder_size(path)),
            "episodes_kept": str(self._kept), "episodes_discarded": str(self._discarded),
            "num_episodes": str(self.params.num_episodes),
            "last_episode": (self._last_episode or ("",))[0], "last_outcome": self._last_outcome,
            "reset_remaining_s": f"{max(0, self._reset_until_ns - now_ns) / NS_PER_S:.1f}"
            if self._state == RESETTING else "0.0",
            "dropped_queue_full": str(self._writer.stats.dropped_queue_full)}
        self._status_pub.publish(DiagnosticStatus(
            name=self.get_fully_qualified_name(), hardware_id=self.params.output_dir,
            level=DiagnosticStatus.WARN if self._writer.stats.dropped_queue_full else DiagnosticStatus.OK,
            message=self._state, values=[KeyValue(key=k, value=v) for k, v in values.items()]))

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
                ("queue_depth", self._writer.queue_depth), ("queued_bytes", self._writer.queued_bytes))])
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


def folder_size(path: Path | None) -> int:
    """Bytes in the files under ``path``, the open split's sub-folder included (0 when it does not
    exist yet: the writer opens it async; a file moved or deleted meanwhile is not counted)."""
    total = 0
    for entry in path.rglob("*") if path else ():
        try:
            total += entry.stat().st_size if entry.is_file() else 0
        except FileNotFoundError:
            continue
    return total


def main(args: list[str] | None = None) -> None:
    """Portable main; one thread runs every callback (SIGINT and SIGTERM both close the bag)."""
    run_node(RecorderNode, args, num_threads=1)


if __name__ == "__main__":
    main()
