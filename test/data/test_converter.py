# SPDX-License-Identifier: Apache-2.0
"""Synthetic bag -> training set -> Dataset samples, checked against the known content."""
import json

import numpy as np
import pytest
import torch
from rosbags.highlevel import AnyReader

from cosmos_policy_ros.core import features as F
from cosmos_policy_ros.data.bag_labels import OUTCOME_FAILURE, OUTCOME_SUCCESS
from cosmos_policy_ros.data.converter import ConvertConfig, convert_bags, split_episodes
from cosmos_policy_ros.data.dataset import EpisodeDataset
from cosmos_policy_ros.core.pretrained import STATISTICS_FILE
from cosmos_policy_ros.data.synthetic_bag import (SyntheticEpisode, command_at, joint_positions_at,
                                                 write_synthetic_episode)
from cosmos_policy_ros.presets import load_preset

DURATION_S = 3.0


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("conv")
    preset = load_preset("sim_arm")
    specs = [SyntheticEpisode(duration_s=DURATION_S, outcome=OUTCOME_SUCCESS),
             SyntheticEpisode(duration_s=DURATION_S, outcome=OUTCOME_FAILURE,
                              policy_from_s=1.0),
             SyntheticEpisode(duration_s=DURATION_S, outcome=0)]
    bags = [write_synthetic_episode(root / f"ep{i}", preset, s) for i, s in enumerate(specs)]
    report = convert_bags(bags, root / "out", preset, ConvertConfig(image_size=16, val_fraction=0.0))
    return preset, root / "out", report


def test_report_counts_and_skips_unknown_outcome(converted):
    preset, _, report = converted
    assert [e.outcome for e in report.episodes] == ["success", "failure", "unknown"]
    assert report.episodes[2].skipped.startswith("skipped: no outcome (cosmos-policy relabel")
    for episode in report.converted:
        assert episode.length == DURATION_S * preset.control_rate_hz + 1  # inclusive span
        assert sum(episode.dropped_ticks.values()) == 0
    assert [e.is_rollout for e in report.converted] == [False, True]
    assert "2 episode(s) converted, 1 skipped" in report.format()


def test_actions_are_the_commanded_reference_at_each_tick(converted):
    preset, out, _ = converted
    dataset = EpisodeDataset(out, "all")
    # command n is sent at tick n and due one tick later: the reference at tick n is command n - 1
    for step in range(dataset.episodes[0]["length"]):
        np.testing.assert_array_equal(dataset[step][F.ACTIONS][0].numpy(),
                                      command_at(max(step - 1, 0), preset.num_joints).astype(np.float32))


def test_samples_follow_feature_contract(converted):
    preset, out, _ = converted
    dataset = EpisodeDataset(out, "all")
    length, chunk = dataset.episodes[0]["length"], preset.chunk_length
    # spec 4.2: target of step t = 2 * gamma^(T-1-t') - 1 at t' = min(t + K, T - 1)
    expected_values = [2 * 0.99 ** (length - 1 - min(t + chunk, length - 1)) - 1 for t in range(length)]
    last = dataset[length - 1]
    assert last[F.OBS_IMAGES].shape == (2, 16, 16, 3)
    assert last[F.ACTIONS].shape == (chunk, preset.num_joints)
    assert (last[F.ACTIONS] == last[F.ACTIONS][0]).all()  # padded by repeating the last action
    for step in (0, length - chunk - 1, length - 1):
        assert dataset[step][F.VALUE_TARGET].item() == pytest.approx(expected_values[step])
        future = min(step + chunk, length - 1)
        assert (dataset[step][F.FUTURE_PROPRIO] == dataset[future][F.OBS_PROPRIO]).all()
    failure = dataset[length]
    assert failure[F.VALUE_TARGET].item() == -1.0 and failure[F.IS_ROLLOUT].item()
    assert failure[F.EPISODE_INDEX].item() == 1 and failure[F.FRAME_INDEX].item() == 0
    assert last[F.INSTRUCTION] == "pick up the cube"


def test_statistics_cover_successful_train_episodes(converted):
    preset, out, _ = converted
    stats = json.loads((out / STATISTICS_FILE).read_text())
    assert stats["actions_min"] == command_at(0, preset.num_joints).tolist()
    assert len(stats["proprio_max"]) == preset.num_joints


def test_split_by_episode_is_deterministic_and_keeps_both_sides():
    assert split_episodes(10, 0.2, seed=3) == split_episodes(10, 0.2, seed=3)
    assert split_episodes(10, 0.2, seed=3).count("val") == 2
    assert split_episodes(2, 0.01, seed=0).count("val") == 1
    assert split_episodes(1, 0.5, seed=0) == ["train"]


def test_decoded_episode_cache_is_bounded_and_serves_the_same_samples(converted, monkeypatch):
    from cosmos_policy_ros.data import dataset as dataset_module
    fresh = EpisodeDataset(converted[1], "all")
    first_length = fresh.episodes[0]["length"]
    expected = [fresh[0][F.OBS_IMAGES], fresh[first_length][F.OBS_IMAGES]]
    monkeypatch.setattr(dataset_module, "EPISODE_CACHE_BYTES", 1)  # room for one episode at most
    bounded = EpisodeDataset(converted[1], "all")
    for _ in range(2):  # alternate episodes: each read evicts the other
        assert torch.equal(bounded[0][F.OBS_IMAGES], expected[0])
        assert torch.equal(bounded[first_length][F.OBS_IMAGES], expected[1])
        assert list(bounded._cache) == [1]


def test_dataset_rejects_unknown_split(converted):
    with pytest.raises(ValueError, match="split"):
        EpisodeDataset(converted[1], "test")


@pytest.mark.parametrize("on_gap", ["keep", "skip"])
def test_gap_longer_than_max_gap_is_reported_and_kept_or_skipped(tmp_path, on_gap):
    preset = load_preset("sim_arm")
    # cameras and joint states silent from 1.0 s to 1.6 s: ticks 1.2 .. 1.6 s are stale (skew 0.15 s)
    bag = write_synthetic_episode(tmp_path / "ep", preset, SyntheticEpisode(
        duration_s=DURATION_S, dropout_s=(1.0, 1.6)))
    config = ConvertConfig(image_size=16, val_fraction=0.0, max_gap_s=0.3, on_gap=on_gap)
    (episode,) = convert_bags([bag], tmp_path / "out", preset, config).episodes
    ticks = DURATION_S * preset.control_rate_hz + 1
    assert episode.gaps == 1 and episode.longest_gap_s == pytest.approx(0.6)  # 1.1 s -> 1.7 s
    assert episode.length == ticks - 5 and episode.dropped_ticks["joint_states"] == 4  # per stream
    assert episode.skipped == ("" if on_gap == "keep" else "skipped: gap")
    lenient = ConvertConfig(image_size=16, val_fraction=0.0, max_gap_s=1.0, on_gap=on_gap)
    (whole,) = convert_bags([bag], tmp_path / "out2", preset, lenient).episodes
    assert whole.gaps == 0 and not whole.skipped and whole.length == episode.length


def test_convert_config_rejects_bad_gap_settings():
    with pytest.raises(ValueError, match="max_gap_s"):
        ConvertConfig(max_gap_s=0.0)
    with pytest.raises(ValueError, match="on_gap"):
        ConvertConfig(on_gap="split")


def test_every_state_source_is_merged_in_policy_units(tmp_path):
    """ALOHA: one JointState topic per arm, the arm's own names and gripper radians (as Trossen's
    drivers publish them); the converter merges both, as the nodes do live, in policy units."""
    preset = load_preset("aloha")
    assert len(preset.state_sources) == 2 and preset.joint_units
    bag = write_synthetic_episode(tmp_path / "ep", preset, SyntheticEpisode(duration_s=1.0))
    with AnyReader([bag]) as reader:  # the bag holds what the drivers publish, nothing merged
        states = {c.topic: c for c in reader.connections if c.msgtype == "sensor_msgs/msg/JointState"}
        assert sorted(states) == ["/follower_left/joint_states", "/follower_right/joint_states"]
        _, _, raw = next(reader.messages(connections=[states["/follower_right/joint_states"]]))
        assert list(reader.deserialize(raw, "sensor_msgs/msg/JointState").name)[0] == "waist"
    report = convert_bags([bag], tmp_path / "out", preset, ConvertConfig(image_size=16, val_fraction=0.0))
    (episode,) = report.converted
    assert episode.length == preset.control_rate_hz * 1.0 + 1 and sum(episode.dropped_ticks.values()) == 0
    arrays = np.load(tmp_path / "out" / json.loads((tmp_path / "out" / "index.json").read_text())
                     ["episodes"][0]["file"])
    seconds = (arrays["timestamps_ns"] - arrays["timestamps_ns"][0]) / 1e9
    expected = np.stack([joint_positions_at(t, preset.num_joints) for t in seconds])
    np.testing.assert_allclose(arrays["proprio"], expected, atol=1e-6)  # all 14, grippers in policy units
