# SPDX-License-Identifier: Apache-2.0
"""Message definitions for reading and writing bags without ROS (rosbags' type system).

The standard types come from rosbags' built-in Kilted store; the project's own
``cosmos_policy_msgs`` types are parsed from their ``.msg`` files, so the writer embeds their
definitions (and RIHS01 hashes identical to a colcon build) in every bag and any rosbag2/MCAP
reader can decode them.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from cosmos_policy_ros import stamps

MSG_PACKAGE = "cosmos_policy_msgs"
MSG_DIR_ENV = "COSMOS_POLICY_MSGS_DIR"
REPO_ROOT = Path(__file__).resolve().parents[2]

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
JOINT_STATE = "sensor_msgs/msg/JointState"
JOINT_TRAJECTORY = "trajectory_msgs/msg/JointTrajectory"
DIAGNOSTIC_ARRAY = "diagnostic_msgs/msg/DiagnosticArray"
ACTION_CHUNK = f"{MSG_PACKAGE}/msg/ActionChunk"
PLAN_CANDIDATES = f"{MSG_PACKAGE}/msg/PlanCandidates"
POLICY_STATUS = f"{MSG_PACKAGE}/msg/PolicyStatus"
EPISODE_EVENT = f"{MSG_PACKAGE}/msg/EpisodeEvent"


def find_msg_dir() -> Path:
    """The ``msg/`` folder of cosmos_policy_msgs.

    Looked up in order: ``$COSMOS_POLICY_MSGS_DIR``, ``share/cosmos_policy_msgs/msg`` under every
    ``AMENT_PREFIX_PATH`` entry and under ``sys.prefix`` (a colcon or venv install), then this
    source tree.

    Raises:
        FileNotFoundError: none of these holds the definitions.
    """
    candidates = [Path(os.environ[MSG_DIR_ENV])] if os.environ.get(MSG_DIR_ENV) else []
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    candidates += [Path(p) / "share" / MSG_PACKAGE / "msg" for p in (*prefixes, sys.prefix)]
    candidates.append(REPO_ROOT / MSG_PACKAGE / "msg")
    for path in candidates:
        if (path / "EpisodeEvent.msg").is_file():
            return path
    raise FileNotFoundError(f"{MSG_PACKAGE} .msg files not found in {[str(c) for c in candidates]}; "
                            f"set {MSG_DIR_ENV}")


def build_typestore(msg_dir: Path | None = None) -> Typestore:
    """rosbags' Kilted type store with every cosmos_policy_msgs message registered."""
    store = get_typestore(Stores.ROS2_KILTED)
    msg_dir = find_msg_dir() if msg_dir is None else msg_dir
    types: dict = {}
    for path in sorted(msg_dir.glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(encoding="utf-8"),
                                        f"{MSG_PACKAGE}/msg/{path.stem}"))
    store.register(types)
    return store


def make_header(store: Typestore, stamp_ns: int) -> object:
    """A rosbags std_msgs/Header stamped ``stamp_ns`` (node clock)."""
    sec, nanosec = stamps.from_nanoseconds(stamp_ns)
    stamp = store.types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)
    return store.types["std_msgs/msg/Header"](stamp=stamp, frame_id="")


def make_episode_event(store: Typestore, stamp_ns: int, event: int, episode_id: str, *,
                       outcome: int = 0, score: float = float("nan"), task: str = "",
                       note: str = "") -> object:
    """A rosbags cosmos_policy_msgs/EpisodeEvent (what the recorder writes into its bags)."""
    return store.types[EPISODE_EVENT](header=make_header(store, stamp_ns), event=event,
                                      episode_id=episode_id, outcome=outcome, score=score,
                                      task=task, note=note)
