# SPDX-License-Identifier: Apache-2.0
"""A bag cut short (recorder killed) is reindexed into a complete, readable bag."""
import shutil

from rosbags.highlevel import AnyReader

from cosmos_policy_ros.data.bag_recovery import is_complete, mcap_file, recover_bag
from cosmos_policy_ros.data.bag_writer import EpisodeBagWriter
from cosmos_policy_ros.data.message_types import EPISODE_EVENT, make_episode_event
from cosmos_policy_ros.data.synthetic_bag import SyntheticEpisode, write_synthetic_episode
from cosmos_policy_ros.presets import load_preset


def test_complete_bag_is_left_alone(tmp_path):
    bag = write_synthetic_episode(tmp_path / "ep", load_preset("sim_arm"),
                                  SyntheticEpisode(duration_s=0.5, image_size=8))
    assert is_complete(bag)
    assert not recover_bag(bag).recovered


def test_flushed_chunks_survive_an_unclosed_writer(tmp_path):
    writer = EpisodeBagWriter(tmp_path / "ep", flush_period_s=1.0)
    store = writer.typestore
    for i in range(20):
        writer.write_message("/recorder/events", EPISODE_EVENT, 1000 + i,
                             make_episode_event(store, 1000 + i, 0, f"ep{i}", task="task"))
        if i == 11:
            writer.flush()  # what the periodic flush does; the last 8 stay in memory
    # simulate kill -9: copy the file as it is on disk now, plus a torn partial record
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    data = mcap_file(tmp_path / "ep").read_bytes()
    (crashed / "crashed.mcap").write_bytes(data + b"\x06\xff\x00")
    assert not is_complete(crashed)
    report = recover_bag(crashed)
    assert report.recovered and report.messages == 12 and report.truncated_tail
    with AnyReader([crashed]) as reader:
        ids = [reader.deserialize(raw, c.msgtype).episode_id for c, _, raw in reader.messages()]
    assert ids == [f"ep{i}" for i in range(12)]
    writer.close()
    shutil.rmtree(tmp_path / "ep")
