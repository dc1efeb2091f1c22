# SPDX-License-Identifier: Apache-2.0
"""Read one episode bag into per-stream arrays (ROS-free, rosbags' AnyReader).

A recorded bag holds exactly one episode (the recorder's layout). Messages are deserialized
with the definitions embedded in the bag; an unfinished bag (recorder killed) is reindexed
first. Joint states of every state source (ALOHA: one topic per arm, the arm's own names) are
merged as the nodes merge them live (``control.joint_map.JointStateMerger``). Images are decoded
only for the frames the aligner selects (:meth:`ImageStream.frame`), which keeps conversion fast;
what is stored of them is the converter's choice (``data.converter.training_image``).
"""
from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from rosbags.highlevel import AnyReader

from cosmos_policy_ros import stamps

from cosmos_policy_ros.control.joint_map import JointStateMerger
from cosmos_policy_ros.presets import JointUnits, StateSource
from cosmos_policy_ros.data.align import CommandedTrajectories
from cosmos_policy_ros.data.bag_labels import OUTCOME_UNKNOWN, read_label
from cosmos_policy_ros.data.bag_recovery import recover_bag

LOG = logging.getLogger(__name__)

# EpisodeEvent / PolicyStatus constants (cosmos_policy_msgs); ROS-free copies of the .msg values.
EVENT_START, EVENT_END, EVENT_INTERVENTION_START, EVENT_INTERVENTION_END = 0, 1, 2, 3
MODE_TELEOP, MODE_POLICY, MODE_HOLD, MODE_ESTOP = 0, 1, 2, 3
CHANNELS_BY_ENCODING = {"rgb8": (3, False), "bgr8": (3, True), "rgba8": (4, False),
                        "bgra8": (4, True), "mono8": (1, False)}


@dataclass(frozen=True)
class BagTopics:
    """Which bag topics hold what. Relative names match any namespace (suffix match).

    Args:
        cameras: camera name -> image topic, in model order.
        state_sources: sensor_msgs/JointState topics merged into the arm's state (the preset's).
        commands: JointTrajectory topic whose targets are the actions (the controller topic).
        status: PolicyStatus topic with the arbiter's mode.
        events: EpisodeEvent topics (task events and the recorder's own).
    """

    cameras: dict[str, str]
    state_sources: tuple[StateSource, ...]
    commands: str
    status: str = "/command_arbiter/status"
    events: tuple[str, ...] = ("task/events", "/recorder/events")


@dataclass
class ImageStream:
    """Image messages of one camera: stamps plus undecoded messages, decoded on demand."""

    stamps_ns: np.ndarray
    messages: list = field(repr=False)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as the driver published it: (H, W, 3) uint8 RGB."""
        return np.asarray(_to_pil(self.messages[index]), dtype=np.uint8)


@dataclass
class EpisodeEventRecord:
    stamp_ns: int
    event: int
    outcome: int
    episode_id: str
    task: str
    note: str


@dataclass
class RecordedEpisode:
    """Everything the converter needs from one bag, on the node clock (ns)."""

    path: Path
    images: dict[str, ImageStream]
    joint_stamps_ns: np.ndarray
    joint_positions: np.ndarray  # (N, P) merged state, preset joint order, policy units
    commands: CommandedTrajectories
    mode_stamps_ns: np.ndarray
    modes: np.ndarray
    events: list[EpisodeEventRecord]
    bag_start_ns: int
    bag_end_ns: int
    label: int | None = None  # metadata.yaml's outcome (see .bag_labels)

    @property
    def outcome(self) -> int:
        """The bag's outcome label, else the outcome of the last END event, else OUTCOME_UNKNOWN."""
        if self.label is not None:
            return self.label
        ends = [e for e in self.events if e.event == EVENT_END]
        return ends[-1].outcome if ends else OUTCOME_UNKNOWN

    def _first_start(self) -> EpisodeEventRecord | None:
        return next((e for e in self.events if e.event == EVENT_START), None)

    @property
    def episode_id(self) -> str:
        start = self._first_start()
        return start.episode_id if start and start.episode_id else self.path.name

    @property
    def instruction(self) -> str:
        """The task text given when the episode started (StartEpisode.task)."""
        start = self._first_start()
        return start.task if start else ""

    @property
    def span_ns(self) -> tuple[int, int]:
        """Episode start/end: the START/END event stamps, else the bag's first/last message."""
        start = self._first_start()
        ends = [e for e in self.events if e.event == EVENT_END]
        return (start.stamp_ns if start else self.bag_start_ns,
                ends[-1].stamp_ns if ends else self.bag_end_ns)


def find_episode_bags(paths: Sequence[Path]) -> list[Path]:
    """Episode bag folders: each path as given when it holds an .mcap, else its bag subfolders (sorted)."""
    bags: list[Path] = []
    for path in map(Path, paths):
        if any(path.glob("*.mcap")):
            bags.append(path)
        else:
            bags.extend(sorted(p for p in path.iterdir() if p.is_dir() and any(p.glob("*.mcap"))))
    return bags


def resolve_topic(name: str, available: Sequence[str]) -> str | None:
    """The bag topic for ``name``: exact for absolute names, unique suffix match for relative ones."""
    if name.startswith("/"):
        return name if name in available else None
    matches = sorted((t for t in available if t == f"/{name}" or t.endswith(f"/{name}")), key=len)
    if len(matches) > 1 and len(matches[0]) == len(matches[1]):
        raise ValueError(f"topic {name!r} is ambiguous in the bag: {matches}")
    return matches[0] if matches else None


def stamp_ns(stamp) -> int:
    return stamps.to_nanoseconds(stamp.sec, stamp.nanosec)


def _to_pil(msg) -> PILImage.Image:
    if hasattr(msg, "format"):  # CompressedImage
        return PILImage.open(io.BytesIO(bytes(msg.data))).convert("RGB")
    if msg.encoding not in CHANNELS_BY_ENCODING:
        raise ValueError(f"image encoding {msg.encoding!r} not supported; use one of "
                         f"{sorted(CHANNELS_BY_ENCODING)}")
    channels, bgr = CHANNELS_BY_ENCODING[msg.encoding]
    rows = np.frombuffer(msg.data, dtype=np.uint8).reshape(msg.height, msg.step)
    pixels = rows[:, :msg.width * channels].reshape(msg.height, msg.width, channels)  # (H, W, C)
    if bgr:
        pixels = pixels[..., [2, 1, 0]]
    return PILImage.fromarray(pixels[..., :3] if channels != 1 else pixels[..., 0]).convert("RGB")


class _Collector:
    """Accumulates decoded messages per stream while the bag is read in time order."""

    def __init__(self, joints: Sequence[str], cameras: Sequence[str], merger: JointStateMerger) -> None:
        self.joints = list(joints)
        self.merger = merger
        self.rejected_states = 0
        self.image_stamps: dict[str, list[int]] = {c: [] for c in cameras}
        self.image_msgs: dict[str, list] = {c: [] for c in cameras}
        self.joint_stamps: list[int] = []
        self.joint_rows: list[np.ndarray] = []
        self.cmd_receive: list[int] = []
        self.cmd_offsets: list[int] = [0]
        self.cmd_times: list[int] = []
        self.cmd_rows: list[np.ndarray] = []
        self.mode_stamps: list[int] = []
        self.modes: list[int] = []
        self.events: list[EpisodeEventRecord] = []
        self._orders: dict[tuple[str, ...], np.ndarray] = {}

    def _order(self, names: Sequence[str]) -> np.ndarray:
        key = tuple(names)
        if key not in self._orders:  # preset joint -> index in the message, -1 when absent
            self._orders[key] = np.array([key.index(j) if j in key else -1 for j in self.joints])
        return self._orders[key]

    def _reorder(self, names: Sequence[str], values: Sequence[float]) -> np.ndarray:
        order = self._order(names)
        values = np.asarray(values, dtype=np.float64)
        return np.where(order >= 0, values[np.maximum(order, 0)], np.nan) if len(values) else \
            np.full(len(self.joints), np.nan)

    def image(self, camera: str, msg) -> None:
        self.image_stamps[camera].append(stamp_ns(msg.header.stamp))
        self.image_msgs[camera].append(msg)

    def joint_state(self, source: str, msg) -> None:
        """One message of a state source; a row of the merged state once every joint is known."""
        try:
            complete = self.merger.update(source, msg.name, msg.position, msg.velocity)
        except ValueError as err:  # a malformed message is left out whole, as live
            self.rejected_states += 1
            if self.rejected_states == 1:
                LOG.warning("joint state left out: %s", err)
            return
        if complete:
            self.joint_stamps.append(stamp_ns(msg.header.stamp))
            self.joint_rows.append(np.asarray(self.merger.state()[1], dtype=np.float64))

    def trajectory(self, receive_ns: int, msg) -> None:
        if not msg.points:
            return  # an empty trajectory cancels nothing in JTC; it carries no target
        start = stamp_ns(msg.header.stamp) or receive_ns
        self.cmd_receive.append(receive_ns)
        for point in msg.points:
            self.cmd_times.append(start + stamp_ns(point.time_from_start))
            self.cmd_rows.append(self._reorder(msg.joint_names, point.positions))
        self.cmd_offsets.append(len(self.cmd_times))

    def status(self, msg) -> None:
        self.mode_stamps.append(stamp_ns(msg.header.stamp))
        self.modes.append(int(msg.mode))

    def event(self, msg) -> None:
        self.events.append(EpisodeEventRecord(stamp_ns(msg.header.stamp), int(msg.event),
                                              int(msg.outcome), msg.episode_id, msg.task, msg.note))


def read_episode_bag(path: Path, topics: BagTopics, joints: Sequence[str],
                     units: Mapping[str, JointUnits] | None = None) -> RecordedEpisode:
    """Read an episode bag (reindexing it first if its recorder died).

    Args:
        joints: the preset's joints (model order).
        units: the preset's ``joint_units``: joint states in robot units become policy units.
    """
    path = Path(path)
    recover_bag(path)
    merger = JointStateMerger(joints, topics.state_sources, units)
    collector = _Collector(joints, list(topics.cameras), merger)
    with AnyReader([path]) as reader:
        available = sorted({c.topic for c in reader.connections})
        handlers = _handlers(topics, available, collector)
        wanted = [c for c in reader.connections if c.topic in handlers]
        for connection, receive_ns, raw in reader.messages(connections=wanted):
            handlers[connection.topic](receive_ns, reader.deserialize(raw, connection.msgtype))
        bag_start, bag_end = reader.start_time, reader.end_time
    c = collector
    commands = CommandedTrajectories(
        receive_ns=np.asarray(c.cmd_receive, dtype=np.int64),
        point_offsets=np.asarray(c.cmd_offsets, dtype=np.int64),
        point_time_ns=np.asarray(c.cmd_times, dtype=np.int64),
        positions=np.asarray(c.cmd_rows, dtype=np.float64).reshape(-1, len(joints)))
    images = {cam: _sorted_stream(c.image_stamps[cam], c.image_msgs[cam]) for cam in topics.cameras}
    joint_order = np.argsort(np.asarray(c.joint_stamps, dtype=np.int64), kind="stable")
    return RecordedEpisode(
        path=path, images=images,
        joint_stamps_ns=np.asarray(c.joint_stamps, dtype=np.int64)[joint_order],
        joint_positions=np.asarray(c.joint_rows, dtype=np.float64).reshape(-1, len(joints))[joint_order],
        commands=commands,
        mode_stamps_ns=np.asarray(c.mode_stamps, dtype=np.int64),
        modes=np.asarray(c.modes, dtype=np.uint8),
        events=c.events, bag_start_ns=int(bag_start), bag_end_ns=int(bag_end), label=read_label(path))


def _sorted_stream(stamps: list[int], messages: list) -> ImageStream:
    order = np.argsort(np.asarray(stamps, dtype=np.int64), kind="stable")
    return ImageStream(np.asarray(stamps, dtype=np.int64)[order], [messages[i] for i in order])


def _handlers(topics: BagTopics, available: Sequence[str], collector: _Collector) -> dict:
    """Bag topic -> callback(receive_ns, message); required streams must be present."""
    handlers: dict = {}
    required = {f"camera {name}": (topic, lambda _t, m, n=name: collector.image(n, m))
                for name, topic in topics.cameras.items()}
    for source in topics.state_sources:
        required[f"joint states ({source.topic})"] = (source.topic,
                                                     lambda _t, m, s=source.topic: collector.joint_state(s, m))
    required["commands"] = (topics.commands, collector.trajectory)
    for what, (name, handler) in required.items():
        resolved = resolve_topic(name, available)
        if resolved is None:
            raise ValueError(f"bag has no {what} topic {name!r}; topics: {list(available)}")
        handlers[resolved] = handler
    status = resolve_topic(topics.status, available)
    if status:
        handlers[status] = lambda _t, m: collector.status(m)
    for name in topics.events:
        resolved = resolve_topic(name, available)
        if resolved:
            handlers[resolved] = lambda _t, m: collector.event(m)
    return handlers
