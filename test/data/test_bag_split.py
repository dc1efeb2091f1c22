# SPDX-License-Identifier: Apache-2.0
"""Bag splitting (rosbag2's --max-bag-size / --max-bag-duration): while recording, every .mcap in the
bag folder is a complete file; at the end one metadata.yaml lists every split, and the bag reads
back whole, in order, with its counts and custom data."""
from __future__ import annotations

import re
import shutil

import pytest
from mcap.reader import make_reader
from rosbags.rosbag2 import Reader
from ruamel.yaml import YAML

from cosmos_policy_ros.data.bag_recovery import is_complete, recover_bag
from cosmos_policy_ros.data.bag_writer import EpisodeBagWriter, SplitLimits
from cosmos_policy_ros.data.message_types import build_typestore

MSGTYPE = "std_msgs/msg/String"
FRAME, JOINTS = "/camera", "/joint_states"
FRAME_BYTES = 10_000
MAX_BYTES = 35_000
MS = 1_000_000


def _cdr(size: int, seq: int) -> bytes:
    """A std_msgs/String CDR of ``size`` bytes carrying its sequence number first."""
    text = f"{seq:08d}".encode() + b"x" * (size - 17)
    return b"\x00\x01\x00\x00" + (len(text) + 1).to_bytes(4, "little") + text + b"\x00"


def _sequences(path) -> list[str]:
    """``<topic initial><seq>`` of each message in one .mcap file, in file order."""
    with open(path, "rb") as f:
        return [f"{channel.topic[1]}{int(message.data[8:16])}"
                for _, channel, message in make_reader(f).iter_messages()]


def _size_split_writer(bag, typestore, **custom_data: str) -> EpisodeBagWriter:
    """Splits at MAX_BYTES; no periodic flush (each test flushes when it means to)."""
    writer = EpisodeBagWriter(bag, typestore, flush_period_s=60.0, split=SplitLimits(max_bytes=MAX_BYTES))
    for key, value in custom_data.items():
        writer.set_custom_data(key, value)
    return writer


@pytest.fixture(scope="module")
def typestore():
    return build_typestore()


def test_size_splits_are_complete_as_they_close_and_the_bag_reads_back_whole(tmp_path, typestore) -> None:
    bag = tmp_path / "ep"
    writer = _size_split_writer(bag, typestore, outcome="1")
    for seq in range(10):
        writer.write(FRAME, MSGTYPE, seq * MS, _cdr(FRAME_BYTES, seq))
        writer.write(JOINTS, MSGTYPE, seq * MS + 1, _cdr(100, seq))
        closed = sorted(bag.glob("*.mcap"))
        # Only closed files are in the bag folder, each readable on its own (footer written).
        assert all(is_complete_file(path) for path in closed)
    assert [p.name for p in sorted(bag.glob("*.mcap"))] == ["ep_0.mcap", "ep_1.mcap"]
    assert not is_complete(bag)  # the third split is still open
    writer.close()
    # As rosbag2 checks before each write: a file ends with the message that took it past the limit.
    assert [_sequences(p) for p in sorted(bag.glob("*.mcap"))] == [
        ["c0", "j0", "c1", "j1", "c2", "j2", "c3"], ["j3", "c4", "j4", "c5", "j5", "c6", "j6", "c7"],
        ["j7", "c8", "j8", "c9", "j9"]]
    assert [p.name for p in sorted(bag.iterdir())] == ["ep_0.mcap", "ep_1.mcap", "ep_2.mcap",
                                                      "metadata.yaml"]  # no working sub-folder left
    assert is_complete(bag)
    metadata = YAML(typ="safe").load(bag / "metadata.yaml")["rosbag2_bagfile_information"]
    assert metadata["relative_file_paths"] == ["ep_0.mcap", "ep_1.mcap", "ep_2.mcap"]
    assert [f["message_count"] for f in metadata["files"]] == [7, 8, 5]
    assert metadata["custom_data"] == {"outcome": "1"}
    with Reader(bag) as reader:
        stamps = [stamp for _, stamp, _ in reader.messages()]
        counts = {topic: info.msgcount for topic, info in reader.topics.items()}
        assert reader.message_count == 20 and reader.duration == 9 * MS + 2
    assert stamps == sorted(seq * MS + j for seq in range(10) for j in (0, 1))
    assert counts == {FRAME: 10, JOINTS: 10}


def test_a_split_bag_cut_short_keeps_its_closed_splits_and_reindexes_the_open_one(tmp_path, typestore) -> None:
    bag = tmp_path / "ep"
    writer = _size_split_writer(bag, typestore, task="fold")
    for seq in range(6):
        writer.write(FRAME, MSGTYPE, seq * MS, _cdr(FRAME_BYTES, seq))
    writer.flush()  # what the periodic flush does: the open split's chunks are on disk
    crashed = tmp_path / "crash" / "ep"  # kill -9 now: the folder as it is on disk
    shutil.copytree(bag, crashed)
    writer.close()
    assert sorted(p.name for p in crashed.iterdir()) == ["ep_0.mcap", "ep_1", "metadata.yaml"]
    assert not is_complete(crashed)
    report = recover_bag(crashed)
    assert report.recovered and report.messages == 2  # the open split held frames 4 and 5
    assert sorted(p.name for p in crashed.iterdir()) == ["ep_0.mcap", "ep_1.mcap", "metadata.yaml"]
    assert is_complete(crashed)
    metadata = YAML(typ="safe").load(crashed / "metadata.yaml")["rosbag2_bagfile_information"]
    assert metadata["relative_file_paths"] == ["ep_0.mcap", "ep_1.mcap"]
    assert metadata["custom_data"] == {"task": "fold"}
    with Reader(crashed) as reader:
        assert [stamp // MS for _, stamp, _ in reader.messages()] == list(range(6))


def test_duration_splits_start_a_file_per_span(tmp_path, typestore) -> None:
    bag = tmp_path / "ep"
    writer = EpisodeBagWriter(bag, typestore, split=SplitLimits(max_duration_ns=3 * MS))
    for seq in range(7):
        writer.write(JOINTS, MSGTYPE, seq * MS, _cdr(100, seq))
    writer.close()
    assert [_sequences(p) for p in sorted(bag.glob("*.mcap"))] == [["j0", "j1", "j2"], ["j3", "j4", "j5"], ["j6"]]
    with Reader(bag) as reader:
        assert reader.message_count == 7


def test_without_limits_the_bag_is_one_file_named_after_its_folder(tmp_path, typestore) -> None:
    writer = EpisodeBagWriter(tmp_path / "ep", typestore)
    writer.write(JOINTS, MSGTYPE, 0, _cdr(100, 0))
    writer.close()
    assert [p.name for p in (tmp_path / "ep").iterdir() if p.suffix == ".mcap"] == ["ep.mcap"]


def test_negative_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="limits must be >= 0"):
        SplitLimits(max_bytes=-1)


def is_complete_file(path) -> bool:
    """The file ends with the MCAP magic (its summary and footer were written)."""
    data = path.read_bytes()
    return re.search(rb"\x89MCAP0\r\n$", data) is not None and len(_sequences(path)) > 0
