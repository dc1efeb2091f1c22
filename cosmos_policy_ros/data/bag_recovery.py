# SPDX-License-Identifier: Apache-2.0
"""Reindex a bag whose recorder died (kill -9, power loss): the rosbags twin of ``ros2 bag reindex``.

Such a bag folder holds an MCAP file with complete, flushed chunks but no summary, no footer
and no ``metadata.yaml`` (and maybe a partial last record). The MCAP stream reader still reads
every complete record; this module copies them, with their embedded message definitions, into
a fresh, complete bag at the same path.
"""
from __future__ import annotations

import logging
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from mcap.exceptions import McapError
from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

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


def is_complete(bag: Path) -> bool:
    """True when the bag has its metadata.yaml and each of its MCAP files (one, or the splits of
    a split bag) ends with a footer."""
    if not (bag / METADATA_FILE).is_file():
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
