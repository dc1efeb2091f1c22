# SPDX-License-Identifier: Apache-2.0
"""recorder_node over real DDS: episode services, task END events, interventions, a full writer
queue on /diagnostics, and CompressedImage cameras recorded and converted.

The recorder runs as a subprocess; this process calls its services, publishes the arbiter status,
task events and sensor streams, and listens to the recorder's ``~/events`` and ``/diagnostics``.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("rclpy", reason="recorder tests need rclpy")

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from rosbags.highlevel import AnyReader  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402

from cosmos_policy_msgs.msg import EpisodeEvent, PolicyStatus  # noqa: E402
from cosmos_policy_msgs.srv import EndEpisode, StartEpisode  # noqa: E402
from cosmos_policy_ros.data.bag_recovery import METADATA_FILE, is_complete  # noqa: E402
from cosmos_policy_ros.data.converter import ConvertConfig, convert_bags  # noqa: E402
from cosmos_policy_ros.data.training_set import read_episode_arrays, read_index  # noqa: E402
from cosmos_policy_ros.presets import load_preset  # noqa: E402
from cosmos_policy_ros.ros.qos import EVENTS_QOS, LATCHED_QOS  # noqa: E402

from recorder_checks import JPEG_TOLERANCE, RecorderMonitor, assert_bag_holds_what_was_published  # noqa: E402
from recorder_publisher import SHADE_KEY, parse_frame_id  # noqa: E402
from ros_helpers import SpinningNode, end_processes, start_node_process, stop_process, wait_for  # noqa: E402

pytestmark = pytest.mark.ros
PUBLISHER = Path(__file__).with_name("recorder_publisher.py")
RECORDER_EVENTS = "/recorder/events"
WAIT_S = 30.0
BURST_MESSAGES = 3000
NS = 1_000_000_000


class RecorderHarness:
    """The recorder subprocess plus an in-process node that plays arbiter, task and sensors."""

    def __init__(self, env: dict, out: Path, **params: str) -> None:
        self.proc = start_node_process("cosmos_policy_ros.ros.recorder_node", env,
                                       {"output_dir": out, **params})
        self.spinner = SpinningNode("recorder_test_harness")
        self.node = node = self.spinner.node
        self.events: list[EpisodeEvent] = []
        self.diagnostics: list[DiagnosticStatus] = []
        node.create_subscription(EpisodeEvent, RECORDER_EVENTS, self.events.append, EVENTS_QOS)
        node.create_subscription(DiagnosticArray, "/diagnostics",
                                 lambda m: self.diagnostics.extend(m.status), 10)
        self.status_pub = node.create_publisher(PolicyStatus, "command_arbiter/status", LATCHED_QOS)
        self.task_pub = node.create_publisher(EpisodeEvent, "task/events", EVENTS_QOS)
        self.start_client = node.create_client(StartEpisode, "recorder/start_episode")
        self.end_client = node.create_client(EndEpisode, "recorder/end_episode")

    def wait_ready(self) -> None:
        wait_for(lambda: self.start_client.service_is_ready() and self.end_client.service_is_ready()
                 and self.node.count_subscribers("task/events") > 0
                 and self.node.count_subscribers("command_arbiter/status") > 0
                 and self.node.count_publishers(RECORDER_EVENTS) > 0, "the recorder to come up")

    def start(self, task: str, note: str = "") -> StartEpisode.Response:
        return self.start_client.call(StartEpisode.Request(task=task, note=note), timeout_sec=WAIT_S)

    def end(self, outcome: int, note: str = "") -> EndEpisode.Response:
        request = EndEpisode.Request(outcome=outcome, score=float("nan"), note=note)
        return self.end_client.call(request, timeout_sec=WAIT_S)

    def publish_mode(self, mode: int, reason: str) -> None:
        msg = PolicyStatus(mode=mode, reason=reason, source="command_arbiter")
        msg.header.stamp = self.node.get_clock().now().to_msg()
        self.status_pub.publish(msg)

    def wait_event(self, event: int, count: int = 1) -> None:
        wait_for(lambda: sum(e.event == event for e in self.events) >= count, f"recorder event {event}")

    def stop(self) -> str:
        """SIGINT the recorder (it closes its bag), shut this node down; return the recorder's log."""
        try:
            return stop_process(self.proc, timeout_s=WAIT_S)
        finally:
            self.spinner.close()


@pytest.fixture
def harness_factory(ros_domain):
    harnesses: list[RecorderHarness] = []

    def make(out: Path, **params: str) -> RecorderHarness:
        harnesses.append(RecorderHarness(ros_domain.env(), out, **params))
        harnesses[-1].wait_ready()
        return harnesses[-1]

    yield make
    try:  # a failed test leaves no process or spin thread behind
        end_processes(h.proc for h in harnesses)
    finally:
        for harness in harnesses:
            harness.spinner.close()


def _bag_events(bag: Path, topic: str = RECORDER_EVENTS) -> list:
    with AnyReader([bag]) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        return [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(conns)]


def _custom_data(bag: Path) -> dict[str, str]:
    metadata = yaml.safe_load((bag / METADATA_FILE).read_text(encoding="utf-8"))
    return metadata["rosbag2_bagfile_information"]["custom_data"]


def test_services_task_end_and_interventions_make_one_bag_per_episode(tmp_path, harness_factory):
    harness = harness_factory(tmp_path)
    first = harness.start("stack the cubes", note="operator")
    assert first.success and first.episode_id
    again = harness.start("another")
    assert not again.success and again.episode_id == first.episode_id  # one episode at a time
    # the recorder must have taken POLICY before TELEOP replaces it (latched, depth 1): it is
    # written to the bag, so wait for the writer's count to move past an idle state
    monitor = RecorderMonitor(harness.node)
    monitor.wait_idle_after(time.time())
    written = monitor.last_written()
    harness.publish_mode(PolicyStatus.MODE_POLICY, "policy running")
    monitor.wait_written(written + 1)
    harness.publish_mode(PolicyStatus.MODE_TELEOP, "operator took over")
    harness.wait_event(EpisodeEvent.INTERVENTION_START)
    harness.publish_mode(PolicyStatus.MODE_POLICY, "operator handed back")
    harness.wait_event(EpisodeEvent.INTERVENTION_END)
    ended = harness.end(EpisodeEvent.OUTCOME_FAILURE, note="dropped the cube")
    assert ended.success and ended.episode_id == first.episode_id
    assert not harness.end(EpisodeEvent.OUTCOME_SUCCESS).success  # nothing is running now

    second = harness.start("reach")
    assert second.success and second.episode_id != first.episode_id
    task_end = EpisodeEvent(event=EpisodeEvent.END, outcome=EpisodeEvent.OUTCOME_SUCCESS, score=1.0,
                            task="reach", note="goal reached")
    harness.task_pub.publish(task_end)
    harness.wait_event(EpisodeEvent.END, count=2)  # end_on_task_event: the recorder ended it
    assert not harness.end(EpisodeEvent.OUTCOME_FAILURE).success
    log = harness.stop()
    assert harness.proc.returncode == 0, log

    bags = {p.name: p for p in tmp_path.iterdir() if p.is_dir()}
    assert sorted(bags) == sorted([first.episode_id, second.episode_id])
    assert all(is_complete(b) for b in bags.values())
    one = _bag_events(bags[first.episode_id])
    assert [e.event for e in one] == [EpisodeEvent.START, EpisodeEvent.INTERVENTION_START,
                                      EpisodeEvent.INTERVENTION_END, EpisodeEvent.END]
    assert one[0].task == "stack the cubes" and one[0].note == "operator"
    assert one[1].note == "operator took over" and one[2].note == "operator handed back"
    assert one[-1].outcome == EpisodeEvent.OUTCOME_FAILURE and one[-1].note == "dropped the cube"
    assert _custom_data(bags[first.episode_id]) == {
        "episode_id": first.episode_id, "task": "stack the cubes",
        "outcome": str(EpisodeEvent.OUTCOME_FAILURE)}
    modes = [s.mode for s in _bag_events(bags[first.episode_id], "/command_arbiter/status")]
    assert modes[-2:] == [PolicyStatus.MODE_TELEOP, PolicyStatus.MODE_POLICY]
    two = _bag_events(bags[second.episode_id])
    assert [e.event for e in two] == [EpisodeEvent.START, EpisodeEvent.END]
    assert two[-1].outcome == EpisodeEvent.OUTCOME_SUCCESS and "goal reached" in two[-1].note
    assert [e.note for e in _bag_events(bags[second.episode_id], "/task/events")] == ["goal reached"]
    assert _custom_data(bags[second.episode_id])["outcome"] == str(EpisodeEvent.OUTCOME_SUCCESS)


def test_automatic_episodes_time_out_reset_and_report_status(tmp_path, harness_factory):
    """num_episodes back to back: each ends at max_episode_s with timeout_outcome, a reset period
    separates them, and ~/status (latched) ends in "done" with the counts and the last bag's size."""
    harness = harness_factory(tmp_path, num_episodes="2", max_episode_s="1.0", reset_period_s="1.2",
                              autostart_task="auto task", timeout_outcome="failure")
    statuses: list[dict[str, str]] = []
    harness.node.create_subscription(DiagnosticStatus, "recorder/status",
                                     lambda m: statuses.append({kv.key: kv.value for kv in m.values}),
                                     LATCHED_QOS)
    wait_for(lambda: statuses and statuses[-1]["state"] == "done", "the recorder to finish 2 episodes",
             WAIT_S)
    final = statuses[-1]
    log = harness.stop()
    assert harness.proc.returncode == 0, log
    assert final["episodes_kept"] == "2" and final["last_outcome"] == "failure"
    assert int(final["size_bytes"]) > 0 and final["last_episode"]
    bags = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    assert [b.name for b in bags][-1] == final["last_episode"] and len(bags) == 2
    events = [_bag_events(bag) for bag in bags]
    for bag, (start, *_, end) in zip(bags, events):
        assert start.event == EpisodeEvent.START and end.event == EpisodeEvent.END
        assert end.outcome == EpisodeEvent.OUTCOME_FAILURE and "max_episode_s=1 reached" in end.note
        assert _custom_data(bag)["task"] == "auto task"
        assert _stamp_ns(end) - _stamp_ns(start) >= 1.0 * NS  # the limit, on the node clock
    assert _stamp_ns(events[1][0]) - _stamp_ns(events[0][-1]) >= 1.2 * NS  # the reset period


def _stamp_ns(event) -> int:
    return event.header.stamp.sec * NS + event.header.stamp.nanosec


def _recorder_writer_status(harness: RecorderHarness) -> DiagnosticStatus | None:
    mine = [s for s in harness.diagnostics if s.name.startswith("recorder")]
    return mine[-1] if mine else None


def _value(status: DiagnosticStatus, key: str) -> str:
    return next(kv.value for kv in status.values if kv.key == key)


def test_full_writer_queue_is_counted_and_reported(tmp_path, harness_factory):
    harness = harness_factory(tmp_path, queue_size="1", sensor_queue_depth=str(BURST_MESSAGES),
                              diagnostics_period_s="0.2", autostart_episode="true")
    reliable = QoSProfile(depth=BURST_MESSAGES, reliability=ReliabilityPolicy.RELIABLE)
    joints = harness.node.create_publisher(JointState, "joint_states", reliable)
    wait_for(lambda: joints.get_subscription_count() > 0, "joint_states matched")
    wait_for(lambda: _recorder_writer_status(harness) is not None, "the recorder's diagnostics")
    assert _recorder_writer_status(harness).level == DiagnosticStatus.OK
    names = list(load_preset("sim_arm").joints)
    for i in range(BURST_MESSAGES):  # far faster than a one-slot queue drains
        joints.publish(JointState(name=names, position=[float(i)] * len(names)))
    wait_for(lambda: _recorder_writer_status(harness).level == DiagnosticStatus.WARN, "a WARN diagnostic")
    status = _recorder_writer_status(harness)
    dropped = int(_value(status, "dropped_queue_full"))
    assert dropped > 0 and status.message == "dropping messages: writer queue full"
    log = harness.stop()
    assert harness.proc.returncode == 0, log
    assert "writer queue full" in log
    (bag,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert is_complete(bag)
    with AnyReader([bag]) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert 0 < counts["/joint_states"] and counts["/joint_states"] + dropped <= BURST_MESSAGES
    assert [e.event for e in _bag_events(bag)] == [EpisodeEvent.START, EpisodeEvent.END]  # never dropped


def _compressed_preset(path: Path) -> Path:
    data = load_preset("sim_arm").to_dict()
    data["name"] = "sim_arm_compressed"
    for camera in data["cameras"]:
        camera.update(topic=f"{camera['topic']}/compressed", height=32, width=32, compressed=True)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _shade_at_ticks(bag: Path, topic: str, ticks_ns: np.ndarray) -> np.ndarray:
    """Shade (from header.frame_id) of the newest frame stamped at or before each tick."""
    with AnyReader([bag]) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        assert conns[0].msgtype == "sensor_msgs/msg/CompressedImage"
        frames = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(conns)]
    stamps = np.array([f.header.stamp.sec * NS + f.header.stamp.nanosec for f in frames])
    order = np.argsort(stamps, kind="stable")
    shades = np.array([parse_frame_id(frames[i].header.frame_id)[SHADE_KEY] for i in order])
    return shades[np.searchsorted(stamps[order], ticks_ns, side="right") - 1]


def test_compressed_cameras_are_recorded_and_converted(tmp_path, harness_factory, ros_domain):
    preset_path = _compressed_preset(tmp_path / "sim_arm_compressed.yaml")
    preset = load_preset(preset_path)
    out = tmp_path / "bags"
    harness = harness_factory(out, robot=str(preset_path), autostart_episode="true",
                              autostart_task="reach")
    monitor = RecorderMonitor(harness.node)
    publisher = subprocess.run([sys.executable, str(PUBLISHER), "--duration-s", "3", "--preset",
                                str(preset_path)], env=ros_domain.env(), capture_output=True, text=True,
                               timeout=60)
    assert publisher.returncode == 0, publisher.stderr
    published = json.loads(publisher.stdout.strip().splitlines()[-1])
    monitor.wait_idle_after(published["acked_s"])
    log = harness.stop()
    assert harness.proc.returncode == 0, log
    monitor.assert_no_loss_inside()
    (bag,) = [p for p in out.iterdir() if p.is_dir()]
    assert_bag_holds_what_was_published(bag, published["counts"], preset)

    report = convert_bags([bag], tmp_path / "set", preset,
                          ConvertConfig(image_size=16, val_fraction=0.0, unknown_outcome="failure"))
    (episode,) = report.converted
    assert episode.length > 0
    arrays = read_episode_arrays(tmp_path / "set", read_index(tmp_path / "set")["episodes"][0]["file"])
    assert arrays["images"].shape == (episode.length, 2, 16, 16, 3)
    for camera, (tolerance, image_format) in enumerate(((JPEG_TOLERANCE, "jpeg"), (0, "png"))):
        topic = "/" + preset.cameras[camera].topic
        expected = _shade_at_ticks(bag, topic, arrays["timestamps_ns"])
        error = np.abs(arrays["images"][:, camera].astype(int) - expected[:, None, None, None])
        assert error.max() <= tolerance, (image_format, error.max())
