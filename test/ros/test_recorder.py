# SPDX-License-Identifier: Apache-2.0
"""recorder_node over real DDS: complete bags on SIGINT, readable bags after kill -9, exact conversion."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="recorder tests need rclpy")

from mcap.reader import make_reader  # noqa: E402
from rosbags.highlevel import AnyReader  # noqa: E402

from cosmos_policy_ros.core import features as F  # noqa: E402
from cosmos_policy_ros.data.bag_recovery import is_complete, recover_bag  # noqa: E402
from cosmos_policy_ros.data.converter import ConvertConfig, convert_bags  # noqa: E402
from cosmos_policy_ros.data.dataset import EpisodeDataset  # noqa: E402
from cosmos_policy_ros.data.synthetic_bag import command_at  # noqa: E402
from cosmos_policy_ros.data.training_set import read_episode_arrays  # noqa: E402
from cosmos_policy_ros.presets import load_preset  # noqa: E402
from cosmos_policy_ros.sim.trajectory_follower import TrajectoryCommand, TrajectoryFollower  # noqa: E402

pytestmark = pytest.mark.ros
PUBLISHER = Path(__file__).with_name("recorder_publisher.py")
STARTUP_TIMEOUT_S = 30.0
NS = 1_000_000_000


def _start_recorder(out: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cosmos_policy_ros.ros.recorder_node", "--ros-args",
         "-p", f"output_dir:={out}", "-p", "autostart_episode:=true", "-p", "autostart_task:=reach",
         "-p", "flush_period_s:=0.5"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _start_publisher(duration_s: float, env: dict) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(PUBLISHER), "--duration-s", str(duration_s)], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "READY", "publisher never matched the recorder"
    return proc


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


def test_sigint_closes_a_complete_bag_with_every_message(tmp_path, ros_domain):
    env = ros_domain.env()
    recorder = _start_recorder(tmp_path, env)
    publisher = _start_publisher(10.0, env)
    published = json.loads(publisher.communicate(timeout=60)[0].strip().splitlines()[-1])
    time.sleep(1.0)  # the last best-effort samples are in flight
    recorder.send_signal(signal.SIGINT)
    log = recorder.communicate(timeout=30)[0]
    assert recorder.returncode == 0, log
    bag = _single_bag(tmp_path)
    assert is_complete(bag)
    recorded = _bag_counts(bag)
    for topic, count in published.items():
        assert recorded.get(topic) == count, (topic, recorded, published)
    with open(next(bag.glob("*.mcap")), "rb") as f:  # the independent MCAP reader agrees
        mcap_counts: dict[str, int] = {}
        for _, channel, _ in make_reader(f).iter_messages():
            mcap_counts[channel.topic] = mcap_counts.get(channel.topic, 0) + 1
    assert mcap_counts == recorded

    # convert the recorded episode: exact actions, ticks = duration x rate (+-1), value formula
    preset = load_preset("sim_arm")
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


def test_kill_9_leaves_a_readable_bag_with_all_but_the_last_second(tmp_path, ros_domain):
    env = ros_domain.env()
    recorder = _start_recorder(tmp_path, env)
    publisher = _start_publisher(8.0, env)
    time.sleep(5.0)
    recorder.kill()
    recorder.communicate(timeout=10)
    publisher.kill()
    publisher.communicate(timeout=10)
    bag = _single_bag(tmp_path)
    assert not is_complete(bag)
    assert recover_bag(bag).recovered
    assert _joint_span_s(bag) >= 4.0
    with open(next(bag.glob("*.mcap")), "rb") as f:
        assert sum(1 for _ in make_reader(f).iter_messages()) == sum(_bag_counts(bag).values())
