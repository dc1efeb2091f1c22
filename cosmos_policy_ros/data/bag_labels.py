# SPDX-License-Identifier: Apache-2.0
"""An episode bag's outcome label, kept in its ``metadata.yaml`` ``custom_data``.

The recorder writes ``custom_data.outcome`` when an episode ends (the same value as the END
event it records); ``cosmos-policy relabel`` rewrites it, and the bag reader prefers it over the
END event, so an outcome can be fixed afterwards without rewriting the MCAP file.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from cosmos_policy_ros.data.bag_recovery import METADATA_FILE

# EpisodeEvent.OUTCOME_* (cosmos_policy_msgs), without importing ROS.
OUTCOME_UNKNOWN, OUTCOME_SUCCESS, OUTCOME_FAILURE = 0, 1, 2
OUTCOME_BY_NAME = {"unknown": OUTCOME_UNKNOWN, "success": OUTCOME_SUCCESS, "failure": OUTCOME_FAILURE}
OUTCOME_KEY = "outcome"
PREVIOUS_KEY = "outcome_relabeled_from"
INFO_KEY = "rosbag2_bagfile_information"


def _load(bag: Path) -> dict:
    path = Path(bag) / METADATA_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{bag}: no {METADATA_FILE} (not a closed rosbag2 bag; reading it once "
                                "with `cosmos-policy convert` recovers a bag whose recorder died)")
    return yaml.safe_load(path.read_text()) or {}


def read_label(bag: Path) -> int | None:
    """The bag's outcome label, or None when it has none (or no metadata.yaml yet)."""
    try:
        value = ((_load(bag).get(INFO_KEY) or {}).get("custom_data") or {}).get(OUTCOME_KEY)
    except FileNotFoundError:
        return None
    return int(value) if value not in (None, "") else None


def write_label(bag: Path, outcome: int) -> int | None:
    """Set the bag's outcome label (written atomically); returns the previous one."""
    metadata = _load(bag)
    info = metadata.setdefault(INFO_KEY, {})
    custom = info.get("custom_data") or {}
    previous = read_label(bag)
    custom[OUTCOME_KEY] = str(outcome)
    if previous is not None and previous != outcome:
        custom[PREVIOUS_KEY] = str(previous)
    info["custom_data"] = custom
    path = Path(bag) / METADATA_FILE
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(metadata, sort_keys=False))
    tmp.replace(path)
    return previous
