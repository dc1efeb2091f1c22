# SPDX-License-Identifier: Apache-2.0
"""Reindex a bag whose recorder died (kill -9, power loss): the rosbags twin of ``ros2 bag reindex``.

Such a bag folder holds an MCAP file with complete, flushed chunks but no summary, no footer
and no ``metadata.yaml`` (and maybe a partial last record). The MCAP stream reader still reads
every complete record; this module copies them, with their embedded message definitions, into
a fresh, complete bag at the same path. A split bag (bag_writer.SplitLimits) keeps its closed
splits and the metadata.yaml listing them; only its open split is reindexed and appended.
"""
from __future__ import annotations

import logging
import re
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from mcap.exceptions import McapError
from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from ruamel.yaml import YAML

LOG = logging.getLogger(__name__)
MCAP_MAGIC = b"\x89MCAP0\r\n"
METADATA_FILE = "metadata.yaml"
BAG_VERSION = 9


@dataclass(frozen=True)
class RecoveryReport:
    """What :func:`recover_bag` did: ``recovered`` False when the bag was already complete."""

    path: Path
    recovered: bool
    messages: int = 0
    truncated_tail: bool = False


def mcap_file(bag: Path) -> Path:
    """The single ``.mcap`` file of a bag folder (or ``bag`` itself when it is a file)."""
    if bag.is_file():
        return bag
    files = sorted(bag.glob("*.mcap"))
    if len(files) != 1:
        raise FileNotFoundError(f"{bag}: expected one .mcap file, found {[f.name for f in files]}")
    return files[0]


def open_splits(bag: Path) -> list[Path]:
    """The ``<bag>_<k>/`` sub-folders of a split bag: the file bag_writer was writing when it died."""
    if not bag.is_dir():
        return []
    return sorted(p for p in bag.iterdir() if p.is_dir() and re.fullmatch(re.escape(bag.name) + r"_\d+", p.name))


def is_complete(bag: Path) -> bool:
    """True when the bag has its metadata.yaml, no split left open, and each of its MCAP files (one,
    or the splits of a split bag) ends with a footer."""
    if not (bag / METADATA_FILE).is_file() or open_splits(bag):
        return False
    files = sorted(bag.glob("*.mcap"))
    return bool(files) and all(_ends_with_magic(path) for path in files)


def _ends_with_magic(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - len(MCAP_MAGIC)))
        return f.read() == MCAP_MAGIC


def _read_records(path: Path) -> tuple[dict[int, Schema], dict[int, Channel], list[Message], bool]:
    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    messages: list[Message] = []
    truncated = False
    with open(path, "rb") as f:
        try:
            for record in StreamReader(f).records:
                if isinstance(record, Schema):
                    schemas[record.id] = record
                elif isinstance(record, Channel):
                    channels[record.id] = record
                elif isinstance(record, Message):
                    messages.append(record)
        except (McapError, ValueError, EOFError, struct.error) as err:  # a partially written last record
            truncated = True
            LOG.info("%s: stopped at a truncated record (%s)", path, type(err).__name__)
    return schemas, channels, messages, truncated


def recover_bag(bag: Path) -> RecoveryReport:
    """Make ``bag`` a complete rosbag2 MCAP bag if it is not one; return what was done."""
    bag = Path(bag)
    if is_complete(bag):
        return RecoveryReport(bag, recovered=False)
    if splits := open_splits(bag):
        return _recover_split_bag(bag, splits)
    schemas, channels, messages, truncated = _read_records(mcap_file(bag))
    store = get_typestore(Stores.EMPTY)
    for schema in schemas.values():
        store.register(get_types_from_msg(schema.data.decode("utf-8"), schema.name))
    staging = bag.with_name(bag.name + ".reindex")
    if staging.exists():
        shutil.rmtree(staging)
    with Writer(staging, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP) as writer:
        connections = {cid: writer.add_connection(ch.topic, schemas[ch.schema_id].name, typestore=store)
                       for cid, ch in sorted(channels.items())}
        for message in sorted(messages, key=lambda m: m.log_time):
            writer.write(connections[message.channel_id], message.log_time, message.data)
    shutil.rmtree(bag)
    staging.rename(bag)
    # rosbags names the storage file after the folder it was written in
    (bag / f"{staging.name}.mcap").rename(bag / f"{bag.name}.mcap")
    metadata = bag / METADATA_FILE
    metadata.write_text(metadata.read_text(encoding="utf-8").replace(staging.name, bag.name),
                        encoding="utf-8")
    LOG.warning("%s: reindexed an unfinished bag (%d messages%s)", bag, len(messages),
                ", truncated tail dropped" if truncated else "")
    return RecoveryReport(bag, recovered=True, messages=len(messages), truncated_tail=truncated)


def bag_info(bag: Path) -> dict:
    """The ``rosbag2_bagfile_information`` of a bag's metadata.yaml."""
    with open(bag / METADATA_FILE, encoding="utf-8") as f:
        return YAML(typ="safe").load(f)["rosbag2_bagfile_information"]


def _recover_split_bag(bag: Path, splits: list[Path]) -> RecoveryReport:
    """The closed splits stay as they are (bag_writer keeps metadata.yaml listing them); each open
    split is reindexed, moved up beside them and appended to the metadata."""
    infos = [bag_info(bag)] if (bag / METADATA_FILE).is_file() else []
    custom_data = (infos[0].get("custom_data") or {}) if infos else {}
    messages, truncated = 0, False
    for split in splits:
        report = recover_bag(split)  # a one-file bag without its metadata
        messages, truncated = messages + report.messages, truncated or report.truncated_tail
        infos.append(bag_info(split))
        (split / f"{split.name}.mcap").rename(bag / f"{split.name}.mcap")
        shutil.rmtree(split)
    write_split_metadata(bag, infos, custom_data)
    LOG.warning("%s: reindexed an unfinished split bag (%d messages in its open split%s)", bag, messages,
                ", truncated tail dropped" if truncated else "")
    return RecoveryReport(bag, recovered=True, messages=messages, truncated_tail=truncated)


def write_split_metadata(bag: Path, files: list[dict], custom_data: dict[str, str]) -> None:
    """The bag's metadata.yaml from its files' own (rosbag2 format: files, relative_file_paths, and
    the totals; a topic's entry is the first file's that has it, with the count summed). ``files``
    may also hold an earlier merged metadata (recovery appends to it)."""
    topics: dict[str, dict] = {}
    for info in files:
        for entry in info["topics_with_message_count"]:
            name = entry["topic_metadata"]["name"]
            total = topics.setdefault(name, {**entry, "message_count": 0})
            total["message_count"] += entry["message_count"]
    counted = [info for info in files if info["message_count"]]
    start = min((info["starting_time"]["nanoseconds_since_epoch"] for info in counted), default=0)
    end = max((info["starting_time"]["nanoseconds_since_epoch"] + info["duration"]["nanoseconds"]
               for info in counted), default=0)
    merged = {**files[-1],
              "relative_file_paths": [path for info in files for path in info["relative_file_paths"]],
              "files": [file for info in files for file in info["files"]],
              "starting_time": {"nanoseconds_since_epoch": start},
              "duration": {"nanoseconds": end - start},
              "message_count": sum(info["message_count"] for info in files),
              "topics_with_message_count": list(topics.values()),
              "custom_data": custom_data or None}
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    staging = bag / f"{METADATA_FILE}.tmp"
    with open(staging, "w", encoding="utf-8") as f:
        yaml.dump({"rosbag2_bagfile_information": merged}, f)
    staging.replace(bag / METADATA_FILE)
