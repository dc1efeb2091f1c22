# SPDX-License-Identifier: Apache-2.0
"""recorder_node over real DDS: 10 s of the real sim recorded as the sim published it; complete bags
on SIGINT, readable bags after kill -9 and exact conversion on a publisher of known content."""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="recorder tests need rclpy")

from mcap.reader import make_reader  # noqa: E402
from rclpy.serialization import deserialize_message  # noqa: E402
from recorder_checks import RecorderMonitor, assert_bag_holds_what_was_published  # noqa: E402
from recorder_publisher import SEQ_KEY, parse_frame_id  # noqa: E402
from ros_helpers import SpinningNode, end_processes, start_node_process, stop_process, wait_for  # noqa: E402
from rosbags.highlevel import AnyReader  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint  # noqa: E402
from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402
from rclpy.duration import Duration as RclpyDuration  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402

from cosmos_policy_msgs.msg import EpisodeEvent  # noqa: E402
from cosmos_policy_msgs.srv import ResetTask  # noqa: E402

from cosmos_policy_ros.core import features as F  # noqa: E402
from cosmos_policy_ros.data.bag_recovery import is_complete, recover_bag  # noqa: E402
from cosmos_policy_ros.data.converter import ConvertConfig, convert_bags  # noqa: E402
from cosmos_policy_ros.data.dataset import EpisodeDataset  # noqa: E402
from cosmos_policy_ros.data.synthetic_bag import command_at  # noqa: E402
from cosmos_policy_ros.data.training_set import read_episode_arrays  # noqa: E402
from cosmos_policy_ros.presets import load_preset  # noqa: E402
from cosmos_policy_ros.ros.conversions import seconds_to_duration  # noqa: E402
from cosmos_policy_ros.ros.qos import COMMAND_QOS, EVENTS_QOS, LATCHED_QOS  # noqa: E402
from cosmos_policy_ros.sim.tasks import TaskConfig  # noqa: E402
from cosmos_policy_ros.sim.trajectory_follower import TrajectoryCommand, TrajectoryFollower  # noqa: E402

pytestmark = pytest.mark.ros
PUBLISHER = Path(__file__).with_name("recorder_publisher.py")
NS = 1_000_000_000
KILL_AFTER_S = 5.0  # of published data before kill -9; the bag must keep all but the last flush
REPO = Path(__file__).resolve().parents[2]
DEMO_PRESET = REPO / "config" / "demo" / "sim_arm_32.yaml"  # the demo's robot and scene (config/demo/demo.yaml)
DEMO_SCENE = REPO / "config" / "demo" / "scene_32.yaml"
DEMO_CAMERA_RATE_HZ = 10.0  # demo.yaml camera_rate_hz
SIM_JOINT_RATE_HZ = 100.0  # sim_arm_node's default joint_state_rate_hz: one state per physics period
# Sim seconds per wall second: only the pacing (every stamp is sim time); faster than the demo's
# 0.5 so the 10 s episode takes ~5 s of CI time, slower where the machine cannot keep up.
SIM_REAL_TIME_FACTOR = 2.0
EPISODE_S = TaskConfig.for_scene(DEMO_SCENE).reach_time_limit_s  # the episode the recorder keeps (10 s)
SIM_WAIT_S = 180.0  # sim start (MuJoCo, EGL) + 10 s of sim time on a loaded 2-core machine
STAMP_TOLERANCE_NS = 1_000  # sim stamps are epoch + accumulated physics time, rounded to ns
MIN_BEST_EFFORT_RECORDED = 0.9  # of what the sim published (drops listed in the failure and the output)
MIN_WITNESSED = 0.5  # recorded messages that this test also received, so their content can be compared
WRIST_TURN_RAD = 1.5  # the arm moves during the recording (changing joint states and wrist images)


class RecorderRun:
    """recorder_node + the publisher script as processes, and a test node watching /diagnostics.

    The fixture that makes it ends both processes and the node, also when the test fails.
    """

    def __init__(self, out: Path, env: dict) -> None:
        self.env = env
        self.spinner = SpinningNode("recorder_test_monitor")
        self.monitor = RecorderMonitor(self.spinner.node)
        self.recorder = start_node_process("cosmos_policy_ros.ros.recorder_node", env, {
            "output_dir": out, "autostart_episode": "true", "autostart_task": "reach", "flush_period_s": 0.5})
        self.publisher: subprocess.Popen | None = None

    def start_publisher(self, duration_s: float) -> None:
        self.publisher = subprocess.Popen([sys.executable, str(PUBLISHER), "--duration-s", str(duration_s)],
                                          env=self.env, stdout=subprocess.PIPE, text=True)
        assert self.publisher.stdout.readline().strip() == "READY", "publisher never matched the recorder"

    def publisher_report(self) -> dict:
        """The publisher's final line (counts per topic, acked_s) once it exited 0."""
        output = self.publisher.communicate(timeout=120)[0]
        assert self.publisher.returncode == 0, output
        return json.loads(output.strip().splitlines()[-1])

    def close(self) -> None:
        try:
            end_processes((self.publisher, self.recorder))
        finally:
            self.spinner.close()


@pytest.fixture
def recorder_run(tmp_path, ros_domain):
    run = RecorderRun(tmp_path, ros_domain.env())
    try:
        yield run
    finally:
        run.close()


class SimRecording:
    """sim_arm_node on the demo's preset and scene and recorder_node as processes, and a witness node
    here that receives what the sim publishes (joint states reliably, as the sim offers them),
    resets the sim's episode and moves the arm. The fixture that makes it ends both processes and
    the node, also when the test fails."""

    def __init__(self, out: Path, env: dict) -> None:
        self.env = env
        self.preset = load_preset(DEMO_PRESET)
        self.spinner = SpinningNode("sim_recording_witness")
        node = self.node = self.spinner.node
        self.monitor = RecorderMonitor(node)
        self.joint_topic = "/" + self.preset.joint_states_topic.lstrip("/")
        self.camera_topics = ["/" + c.topic.lstrip("/") for c in self.preset.cameras]
        self.witnessed: dict[str, dict[int, object]] = {t: {} for t in (self.joint_topic, *self.camera_topics)}
        reliable = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
        best_effort = QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT)
        node.create_subscription(JointState, self.joint_topic, self._witness(self.joint_topic), reliable)
        for topic in self.camera_topics:
            node.create_subscription(Image, topic, self._witness(topic), best_effort)
        self.task_events: list[EpisodeEvent] = []
        self.recorder_events: list[EpisodeEvent] = []
        self.recorder_status: list[DiagnosticStatus] = []
        node.create_subscription(EpisodeEvent, "/task/events", self.task_events.append, EVENTS_QOS)
        node.create_subscription(EpisodeEvent, "/recorder/events", self.recorder_events.append, EVENTS_QOS)
        node.create_subscription(DiagnosticStatus, "/recorder/status", self.recorder_status.append, LATCHED_QOS)
        self.command_pub = node.create_publisher(JointTrajectory, self.preset.controller_topic, COMMAND_QOS)
        self.reset_client = node.create_client(ResetTask, "/sim_arm/reset_task")
        self.recorder = start_node_process("cosmos_policy_ros.ros.recorder_node", env, {
            "robot": DEMO_PRESET, "output_dir": out, "use_sim_time": "true", "autostart_episode": "true",
            "autostart_task": "reach"})
        self.sim: subprocess.Popen | None = None

    def _witness(self, topic: str):
        def on_message(msg) -> None:
            self.witnessed[topic][_ns(msg.header.stamp)] = msg
        return on_message

    def _subscribed(self, topic: str, node_name: str) -> bool:
        return any(info.node_name == node_name for info in self.node.get_subscriptions_info_by_topic(topic))

    def start_sim(self) -> None:
        """Start the sim once the recorder records and listens to every sensor topic."""
        wait_for(lambda: self.recorder_status and self.recorder_status[-1].message == "recording"
                 and all(self._subscribed(t, "recorder") for t in (self.joint_topic, *self.camera_topics)),
                 "the recorder to record and subscribe", SIM_WAIT_S)
        self.sim = start_node_process("cosmos_policy_ros.sim.sim_arm_node", self.env, {
            "robot": DEMO_PRESET, "scene": DEMO_SCENE, "camera_rate_hz": DEMO_CAMERA_RATE_HZ,
            "joint_state_rate_hz": SIM_JOINT_RATE_HZ, "use_sim_time": "true",
            "real_time_factor": SIM_REAL_TIME_FACTOR})

    def reset_and_move(self) -> None:
        """Once every sim stream reached the recorder and this node: a fresh episode, and the wrist
        turning through it (a command both the sim and the recorder acknowledged)."""
        wait_for(lambda: all(self.witnessed.values()), "the sim's joint states and images here", SIM_WAIT_S)
        written = self.monitor.last_written() if self.monitor.reports else 0
        wait_for(lambda: self.monitor.reports and self.monitor.last_written() > written + 2 * len(self.witnessed),
                 "the recorder writing the sim's messages", SIM_WAIT_S)
        wait_for(lambda: self.command_pub.get_subscription_count() >= 2, "the sim and the recorder on the controller topic")
        response = self.spinner.call(self.reset_client, ResetTask.Request(task="reach", seed=0), SIM_WAIT_S)
        assert response.success, response.message
        turn = JointTrajectory(joint_names=["wrist_3_joint"], points=[JointTrajectoryPoint(
            positions=[WRIST_TURN_RAD], time_from_start=seconds_to_duration(0.6 * EPISODE_S))])
        self.command_pub.publish(turn)
        assert self.command_pub.wait_for_all_acked(RclpyDuration(seconds=SIM_WAIT_S)), "the move was not acknowledged"

    def wait_episode_end(self) -> EpisodeEvent:
        """The sim's END event of the episode, once the recorder has ended its episode on it."""
        wait_for(lambda: any(e.event == EpisodeEvent.END for e in self.recorder_events),
                 "the recorder ending its episode on the sim's END event", SIM_WAIT_S)
        return next(e for e in self.task_events if e.event == EpisodeEvent.END)

    def close(self) -> None:
        try:
            end_processes((self.sim, self.recorder))
        finally:
            self.spinner.close()


@pytest.fixture
def sim_recording(tmp_path, ros_domain):
    run = SimRecording(tmp_path, ros_domain.env())
    try:
        yield run
    finally:
        run.close()


def _ns(stamp) -> int:
    return stamp.sec * NS + stamp.nanosec


def _decode_mcap(bag: Path) -> dict[str, list]:
    """Every message of the bag's MCAP by topic, read with the independent ``mcap`` reader and
    decoded with rclpy's own CDR deserializer (not the converter's rosbags path)."""
    decoded: dict[str, list] = {}
    with open(next(bag.glob("*.mcap")), "rb") as f:
        for schema, channel, message in make_reader(f).iter_messages():
            package, _, name = schema.name.split("/")
            cls = getattr(importlib.import_module(f"{package}.msg"), name)
            decoded.setdefault(channel.topic, []).append(deserialize_message(message.data, cls))
    return decoded


def _same_message(recorded, witnessed) -> bool:
    if isinstance(recorded, JointState):
        return (list(recorded.name) == list(witnessed.name)
                and all(np.array_equal(getattr(recorded, f), getattr(witnessed, f)) for f in ("position", "velocity", "effort")))
    return ((recorded.height, recorded.width, recorded.encoding, recorded.step, recorded.header.frame_id,
             bytes(recorded.data)) == (witnessed.height, witnessed.width, witnessed.encoding, witnessed.step,
                                       witnessed.header.frame_id, bytes(witnessed.data)))


def _match_stream(topic: str, recorded: list, witnessed: dict[int, object], grid_ns: int, origin_ns: int,
                  rate_hz: float, published: range) -> str:
    """Hold one recorded sensor stream to what the sim published and return its report line.

    The sim stamps every message with the sim time of a physics step (``grid_ns`` apart) and
    publishes the stream at ``rate_hz`` from ``origin_ns`` on, so message n of the episode has the
    stamp nearest ``origin_ns + n / rate_hz`` on the grid: its sequence number. ``published`` are
    the sequence numbers the sim published in the episode; the bag may lack some (best-effort
    drops, listed in the report), never hold one twice, out of order, off the grid or altered.
    """
    stamps = [_ns(m.header.stamp) for m in recorded]
    assert stamps == sorted(set(stamps)), f"{topic}: recorded stamps repeat or go back"
    off_grid = [s for s in stamps if abs(s - round(s / grid_ns) * grid_ns) > STAMP_TOLERANCE_NS]
    assert not off_grid, f"{topic}: stamps {off_grid[:5]} are not sim physics steps"
    seqs = [round((s - origin_ns) * rate_hz / NS) for s in stamps]
    assert len(set(seqs)) == len(seqs), f"{topic}: two recorded messages for one published sequence number"
    compared = [(m, witnessed[s]) for m, s in zip(recorded, stamps) if s in witnessed]
    altered = [_ns(m.header.stamp) for m, w in compared if not _same_message(m, w)]
    assert not altered, f"{topic}: recorded messages stamped {altered[:5]} differ from what the sim published"
    assert len(compared) >= MIN_WITNESSED * len(recorded), \
        f"{topic}: only {len(compared)} of {len(recorded)} recorded messages were also received here"
    in_episode = set(seqs) & set(published)
    missing = sorted(set(published) - in_episode)
    report = (f"{topic}: {len(in_episode)} of {len(published)} published in the episode recorded, "
              f"dropped {missing}; {len(compared)} compared with what the sim sent here")
    assert len(in_episode) >= MIN_BEST_EFFORT_RECORDED * len(published), report
    return report


def test_ten_seconds_of_the_sim_are_recorded_as_the_sim_published_them(tmp_path, sim_recording, record_property):
    run = sim_recording
    run.start_sim()
    run.reset_and_move()
    end = run.wait_episode_end()
    log = stop_process(run.recorder)
    assert run.recorder.returncode == 0, log
    run.monitor.assert_no_loss_inside()
    bag = _single_bag(tmp_path)
    assert is_complete(bag)
    decoded = _decode_mcap(bag)

    # the episode: the sim's reach task ran its full time limit from the reset, on sim time
    end_ns = _ns(end.header.stamp)
    assert (end.outcome, end.task) == (EpisodeEvent.OUTCOME_FAILURE, "reach"), end
    assert [(e.event, _ns(e.header.stamp)) for e in decoded["/task/events"]] == [(EpisodeEvent.END, end_ns)]
    origin_ns = end_ns - round(EPISODE_S * NS)  # the reset's stamp: stamps run on across it
    grid_ns = round(NS / SIM_JOINT_RATE_HZ)
    lines = [_match_stream(run.joint_topic, decoded[run.joint_topic], run.witnessed[run.joint_topic], grid_ns,
                           0, SIM_JOINT_RATE_HZ, range(round(origin_ns / grid_ns) + 1, round(end_ns / grid_ns) + 1))]
    for topic in run.camera_topics:  # the first frame of the episode at its first step, then one per period
        in_episode = [m for m in decoded[topic] if _ns(m.header.stamp) > origin_ns]
        lines.append(_match_stream(topic, in_episode, run.witnessed[topic], grid_ns, origin_ns,
                                   DEMO_CAMERA_RATE_HZ, range(round(EPISODE_S * DEMO_CAMERA_RATE_HZ) + 1)))
    # the arm moved as commanded: the command is in the bag and the wrist turned through the episode
    (command,) = decoded["/" + run.preset.controller_topic.lstrip("/")]
    assert (list(command.joint_names), list(command.points[0].positions)) == (["wrist_3_joint"], [WRIST_TURN_RAD])
    wrist = run.preset.joints.index("wrist_3_joint")
    turned = [m.position[wrist] for m in decoded[run.joint_topic] if _ns(m.header.stamp) > origin_ns]
    assert turned[-1] == pytest.approx(WRIST_TURN_RAD, abs=0.05) and turned[0] < 0.5 * WRIST_TURN_RAD
    record_property("sim_recording", "; ".join(lines))
    print("\n".join(lines))
    log = stop_process(run.sim)
    assert run.sim.returncode == 0, log


def _single_bag(out: Path) -> Path:
    bags = [p for p in out.iterdir() if p.is_dir()]
    assert len(bags) == 1, bags
    return bags[0]


def _bag_counts(bag: Path) -> dict[str, int]:
    with AnyReader([bag]) as reader:
        return {c.topic: c.msgcount for c in reader.connections}


def _joint_span_s(bag: Path) -> float:
    """Time between the first and last recorded joint state (header stamps) [s]."""
    with AnyReader([bag]) as reader:
        conns = [c for c in reader.connections if c.topic == "/joint_states"]
        stamps = [reader.deserialize(raw, c.msgtype).header.stamp for c, _, raw in reader.messages(conns)]
    return (stamps[-1].sec - stamps[0].sec) + (stamps[-1].nanosec - stamps[0].nanosec) / NS


def test_sigint_closes_a_complete_bag_with_every_message(tmp_path, recorder_run):
    recorder_run.start_publisher(10.0)
    report = recorder_run.publisher_report()
    recorder_run.monitor.wait_idle_after(report["acked_s"])
    log = stop_process(recorder_run.recorder)
    assert recorder_run.recorder.returncode == 0, log
    recorder_run.monitor.assert_no_loss_inside()
    bag = _single_bag(tmp_path)
    assert is_complete(bag)
    preset = load_preset("sim_arm")
    assert_bag_holds_what_was_published(bag, report["counts"], preset)
    recorded = _bag_counts(bag)
    # the independent MCAP reader + rclpy's own CDR deserializer read the same sequence numbers
    mcap_seqs = {topic: [parse_frame_id(m.header.frame_id)[SEQ_KEY] for m in messages]
                 for topic, messages in _decode_mcap(bag).items() if topic in report["counts"]}
    assert {t: len(seqs) for t, seqs in mcap_seqs.items()} == {t: recorded[t] for t in report["counts"]}
    assert all(seqs == sorted(set(seqs)) for seqs in mcap_seqs.values())

    # convert the recorded episode: exact actions, ticks = duration x rate (+-1), value formula
    report = convert_bags([bag], tmp_path / "set", preset,
                          ConvertConfig(image_size=16, val_fraction=0.0, unknown_outcome="failure"))
    (episode,) = report.converted
    dropped = sum(episode.dropped_ticks.values())
    assert abs(episode.length - _joint_span_s(bag) * preset.control_rate_hz) <= 1 + dropped
    # the action at each tick is the reference a JTC-like follower tracks, fed the recorded commands
    # as they were received (each: one point, due time_from_start after receipt)
    with AnyReader([bag]) as reader:
        conns = [c for c in reader.connections if c.topic == preset.controller_topic]
        messages = [(t, reader.deserialize(raw, c.msgtype)) for c, t, raw in reader.messages(conns)]
    received = [(t, np.asarray(m.points[0].positions, np.float32)) for t, m in messages]
    dataset = EpisodeDataset(tmp_path / "set", "all")
    arrays = read_episode_arrays(tmp_path / "set", dataset.episodes[0]["file"])
    follower = TrajectoryFollower(tuple(messages[0][1].joint_names), received[0][1].astype(np.float64))
    k = 0
    for tick, action in zip(arrays["timestamps_ns"], arrays["actions"]):
        while k < len(messages) and messages[k][0] <= tick:
            point = messages[k][1].points[0]
            follower.command(TrajectoryCommand(tuple(messages[k][1].joint_names),
                                               np.array([point.time_from_start.sec + point.time_from_start.nanosec / NS]),
                                               np.asarray([point.positions], np.float64)), messages[k][0] / NS)
            k += 1
        np.testing.assert_allclose(action, follower.sample(tick / NS).positions, atol=1e-5)
    assert {tuple(a) for _, a in received} <= {tuple(command_at(n, preset.num_joints).astype(np.float32))
                                               for n in range(len(received))}
    assert all(dataset[i][F.VALUE_TARGET].item() == -1.0 for i in (0, len(dataset) - 1))  # unknown -> failure


def test_kill_9_leaves_a_readable_bag_with_all_but_the_last_second(tmp_path, recorder_run):
    preset = load_preset("sim_arm")
    rate_hz = len(preset.cameras) * 15.0 + 50.0 + 10.0  # recorder_publisher's default rates
    recorder_run.start_publisher(3 * KILL_AFTER_S)
    recorder_run.monitor.wait_written(int(KILL_AFTER_S * rate_hz))
    recorder_run.recorder.kill()
    recorder_run.recorder.communicate(timeout=10)
    bag = _single_bag(tmp_path)
    assert not is_complete(bag)
    assert recover_bag(bag).recovered
    assert _joint_span_s(bag) >= KILL_AFTER_S - 1.0
    with open(next(bag.glob("*.mcap")), "rb") as f:
        assert sum(1 for _ in make_reader(f).iter_messages()) == sum(_bag_counts(bag).values())
