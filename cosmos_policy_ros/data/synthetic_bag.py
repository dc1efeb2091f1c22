# SPDX-License-Identifier: Apache-2.0
"""Write a synthetic episode bag with known content (benchmarks, tests, documentation).

The bag has the recorder's layout: cameras, joint states (one topic per state source, in the
robot's names and units, as its stack publishes them) and commanded trajectories at their rates, the recorder's START/END events with the outcome, and optional arbiter mode changes.
Every value is a known function of time, so a conversion can be checked exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.typesys.store import Typestore

from cosmos_policy_ros import stamps

from cosmos_policy_ros.data import message_types as mt
from cosmos_policy_ros.data.align import NS_PER_S
from cosmos_policy_ros.data.bag_labels import OUTCOME_SUCCESS
from cosmos_policy_ros.data.bag_reader import EVENT_END, EVENT_START, MODE_POLICY, MODE_TELEOP
from cosmos_policy_ros.data.bag_writer import EpisodeBagWriter
from cosmos_policy_ros.presets import RobotPreset, StateSource

RECORDER_EVENTS_TOPIC = "/recorder/events"
STATUS_TOPIC = "/command_arbiter/status"


@dataclass(frozen=True)
class SyntheticEpisode:
    """What to synthesize.

    Args:
        duration_s: episode length [s].
        start_s: node-clock time of the first message [s].
        image_rate_hz / joint_rate_hz / command_rate_hz: stream rates [Hz].
        image_size: side of square camera images [px]; None = each camera's size in the preset
            (what its driver publishes, the only size conversion accepts).
        textured: each frame is seeded noise instead of one shade, so a resize path shows in
            its pixels.
        outcome: EpisodeEvent.OUTCOME_* written with the END event.
        policy_from_s: time the arbiter switches TELEOP -> POLICY (negative: never).
        instruction: task text of the START event.
        dropout_s: (start, end) times after the first message [s] in which no camera image and
            no joint state is written (a sensor link that dropped out); None: no dropout.
    """

    duration_s: float = 10.0
    start_s: float = 100.0
    image_rate_hz: float = 15.0
    joint_rate_hz: float = 50.0
    command_rate_hz: float = 10.0
    image_size: int | None = None
    outcome: int = OUTCOME_SUCCESS
    policy_from_s: float = -1.0
    instruction: str = "pick up the cube"
    dropout_s: tuple[float, float] | None = None
    textured: bool = False

    def sensor_silent(self, offset_ns: int) -> bool:
        """True when a sensor message ``offset_ns`` after the start falls in the dropout."""
        if self.dropout_s is None:
            return False
        return self.dropout_s[0] * NS_PER_S <= offset_ns < self.dropout_s[1] * NS_PER_S


def joint_positions_at(t_s: float, num_joints: int) -> np.ndarray:
    """Known joint trajectory: joint j follows 0.1 * (j + 1) * sin(t)."""
    return 0.1 * (np.arange(num_joints) + 1) * np.sin(t_s)


def robot_joint_states(preset: RobotPreset, positions: dict[str, float]) -> dict[StateSource, tuple[list[str], np.ndarray]]:
    """Preset joint positions (policy units) as the robot's stack publishes them: per state source
    (ALOHA: one driver per arm), its own names (prefix removed), in its units (``joint_units``)."""
    states = {}
    for source in preset.state_sources:
        joints = [j for j in preset.joints if j.startswith(source.prefix)]
        values = [preset.joint_units[j].to_robot(positions[j]) if j in preset.joint_units else positions[j]
                  for j in joints]
        states[source] = ([j[len(source.prefix):] for j in joints], np.asarray(values, dtype=np.float64))
    return states


def command_at(index: int, num_joints: int) -> np.ndarray:
    """Known target of the command number ``index``: joint j = index / 100 + j."""
    return index / 100.0 + np.arange(num_joints, dtype=np.float64)


class _Messages:
    """Builds rosbags message objects of the recorded types."""

    def __init__(self, store: Typestore) -> None:
        self.t = store.types
        self.store = store

    def header(self, t_ns: int):
        return mt.make_header(self.store, t_ns)

    def duration(self, t_ns: int):
        sec, nanosec = stamps.from_nanoseconds(t_ns)
        return self.t["builtin_interfaces/msg/Duration"](sec=sec, nanosec=nanosec)

    def image(self, t_ns: int, height: int, width: int, shade: int, textured: bool = False):
        data = (np.random.default_rng(shade).integers(0, 256, (height, width, 3), dtype=np.uint8) if textured
                else np.full((height, width, 3), shade % 256, dtype=np.uint8))
        return self.t[mt.IMAGE](header=self.header(t_ns), height=height, width=width, encoding="rgb8",
                                is_bigendian=0, step=width * 3, data=data.reshape(-1))

    def joint_state(self, t_ns: int, names: list[str], positions: np.ndarray):
        zeros = np.zeros(len(names))
        return self.t[mt.JOINT_STATE](header=self.header(t_ns), name=names, position=positions,
                                      velocity=zeros, effort=zeros)

    def trajectory(self, names: list[str], target: np.ndarray, time_from_start_ns: int):
        point = self.t["trajectory_msgs/msg/JointTrajectoryPoint"](
            positions=target, velocities=np.zeros(0), accelerations=np.zeros(0), effort=np.zeros(0),
            time_from_start=self.duration(time_from_start_ns))
        return self.t[mt.JOINT_TRAJECTORY](header=self.header(0), joint_names=names, points=[point])

    def status(self, t_ns: int, mode: int):
        return self.t[mt.POLICY_STATUS](
            header=self.header(t_ns), mode=mode, reason="", source="command_arbiter",
            last_value=float("nan"), observation_age_s=float("nan"), deadline_misses=0,
            rejected_chunks=0, call_for_teleop=False, model_name="", instruction="", inputs_received=0,
            rejected_inputs=0)


def _times_ns(start_ns: int, duration_s: float, rate_hz: float) -> np.ndarray:
    return start_ns + np.round(np.arange(int(duration_s * rate_hz) + 1) * NS_PER_S / rate_hz).astype(np.int64)


def write_synthetic_episode(path: Path, preset: RobotPreset, spec: SyntheticEpisode,
                            store: Typestore | None = None) -> Path:
    """Write one episode bag at ``path``; commands are received at their own stamps (stamp 0)."""
    store = store or mt.build_typestore()
    msgs, names = _Messages(store), list(preset.joints)
    start_ns = int(spec.start_s * NS_PER_S)
    end_ns = start_ns + int(spec.duration_s * NS_PER_S)
    items: list[tuple[int, str, str, object]] = []
    for n, t in enumerate(_times_ns(start_ns, spec.duration_s, spec.image_rate_hz)):
        if spec.sensor_silent(t - start_ns):
            continue
        items += [(int(t), "/" + c.topic.lstrip("/"), mt.IMAGE,
                   msgs.image(int(t), *((spec.image_size,) * 2 if spec.image_size else c.frame_size), n + i,
                              spec.textured))
                  for i, c in enumerate(preset.cameras)]
    for t in _times_ns(start_ns, spec.duration_s, spec.joint_rate_hz):
        if spec.sensor_silent(t - start_ns):
            continue
        positions = dict(zip(names, joint_positions_at((t - start_ns) / NS_PER_S, len(names))))
        items += [(int(t), "/" + source.topic.lstrip("/"), mt.JOINT_STATE, msgs.joint_state(int(t), *state))
                  for source, state in robot_joint_states(preset, positions).items()]
    dt_ns = int(NS_PER_S / spec.command_rate_hz)
    for n, t in enumerate(_times_ns(start_ns, spec.duration_s, spec.command_rate_hz)):
        items.append((int(t), "/" + preset.controller_topic.lstrip("/"), mt.JOINT_TRAJECTORY,
                      msgs.trajectory(names, command_at(n, len(names)), dt_ns)))
    episode_id = Path(path).name
    items.append((start_ns, RECORDER_EVENTS_TOPIC, mt.EPISODE_EVENT,
                  mt.make_episode_event(store, start_ns, EVENT_START, episode_id, task=spec.instruction)))
    items.append((end_ns, RECORDER_EVENTS_TOPIC, mt.EPISODE_EVENT,
                  mt.make_episode_event(store, end_ns, EVENT_END, episode_id, outcome=spec.outcome,
                                        task=spec.instruction)))
    items.append((start_ns, STATUS_TOPIC, mt.POLICY_STATUS, msgs.status(start_ns, MODE_TELEOP)))
    if spec.policy_from_s >= 0:
        t = start_ns + int(spec.policy_from_s * NS_PER_S)
        items.append((t, STATUS_TOPIC, mt.POLICY_STATUS, msgs.status(t, MODE_POLICY)))
    writer = EpisodeBagWriter(Path(path), store)
    for t, topic, msgtype, message in sorted(items, key=lambda item: item[0]):
        writer.write_message(topic, msgtype, t, message)
    writer.close()
    return Path(path)
