# SPDX-License-Identifier: Apache-2.0
"""Sim demo generation: a training set like a converted bag's, deterministic across worker counts."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from cosmos_policy_ros.core import features as F
from cosmos_policy_ros.data.dataset import EpisodeDataset
from cosmos_policy_ros.data.training_set import INDEX_FILE, read_episode_arrays
from cosmos_policy_ros.presets import load_preset
from cosmos_policy_ros.sim.arm_sim import HOME_POSITIONS
from cosmos_policy_ros.sim.demonstrations import SimDemoConfig, generate_sim_demos, scene_target
from cosmos_policy_ros.sim.scene import BLOCK_COLOURS

REPO = Path(__file__).resolve().parents[2]
PRESET = REPO / "config/demo/sim_arm_32.yaml"
SCENE = REPO / "config/demo/scene_32.yaml"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    preset = load_preset(str(PRESET))
    config = SimDemoConfig(episodes=5, seed=40, noisy_share=0.4, time_limit_s=1.5, scene=str(SCENE),
                           workers=1, val_fraction=0.2)
    one = tmp_path_factory.mktemp("one")
    summaries = generate_sim_demos(preset, config, one)
    two = tmp_path_factory.mktemp("two")
    generate_sim_demos(preset, SimDemoConfig(**{**config.__dict__, "workers": 2}), two)
    return preset, config, one, two, summaries


def test_writes_a_training_set_with_the_presets_cameras_and_layout(generated):
    preset, config, root, _, summaries = generated
    index = json.loads((root / INDEX_FILE).read_text())
    assert index["cameras"] == [c.name for c in preset.cameras] and index["joints"] == list(preset.joints)
    assert len(index["episodes"]) == 5 and len(index["splits"]["val"]) == 1
    assert [e["source"].split(":target=")[0] for e in index["episodes"]] == [f"sim:reach:seed={40 + i}"
                                                                             for i in range(5)]
    sample = EpisodeDataset(root, "all")[0]
    assert sample[F.OBS_IMAGES].shape == (2, 32, 32, 3) and sample[F.ACTIONS].shape[1] == preset.num_joints
    assert {s.outcome for s in summaries} <= {"success", "failure"}
    assert all(s.length <= 1.5 * preset.control_rate_hz for s in summaries)  # the time limit holds


def test_actions_are_the_reference_not_the_experts_leading_targets(generated):
    _, _, root, _, _ = generated
    arrays = read_episode_arrays(root, json.loads((root / INDEX_FILE).read_text())["episodes"][0]["file"])
    actions, proprio = arrays["actions"], arrays["proprio"]
    # tick 0: the reference starts where the arm is (the target 0.4 s ahead would be elsewhere)
    np.testing.assert_allclose(actions[0], HOME_POSITIONS, atol=1e-6)
    np.testing.assert_allclose(proprio[0], HOME_POSITIONS, atol=1e-3)
    # one tick of reference motion stays within the arm's reach in 0.1 s (no 0.4 s lead baked in)
    assert np.abs(np.diff(actions[:, :6], axis=0)).max() < 0.2
    assert (arrays["modes"] == 0).all() and arrays["returns"].shape == (len(actions),)


def test_noisy_share_and_worker_count_do_not_change_the_data(generated):
    _, config, one, two, _ = generated
    assert [config.is_noisy(i) for i in range(5)] == [False, False, True, False, True]
    index = json.loads((one / INDEX_FILE).read_text())
    assert json.loads((two / INDEX_FILE).read_text()) == index
    for entry in index["episodes"]:
        a, b = read_episode_arrays(one, entry["file"]), read_episode_arrays(two, entry["file"])
        for name in a:
            np.testing.assert_array_equal(a[name], b[name])


def test_several_targets_per_scene_share_the_images_and_differ_in_instruction(tmp_path):
    scene = yaml.safe_load(SCENE.read_text())
    scene.pop("target_colours", None)  # every block a target
    (tmp_path / "scene.yaml").write_text(yaml.safe_dump(scene))
    config = SimDemoConfig(episodes=3, seed=7, targets_per_scene=3, noisy_share=0.0, time_limit_s=0.3,
                           scene=str(tmp_path / "scene.yaml"), workers=1, val_fraction=0.0)
    generate_sim_demos(load_preset(str(PRESET)), config, tmp_path / "out")
    episodes = json.loads((tmp_path / "out" / INDEX_FILE).read_text())["episodes"]
    first_images = [read_episode_arrays(tmp_path / "out", e["file"])["images"][0] for e in episodes]
    for images in first_images[1:]:
        np.testing.assert_array_equal(images, first_images[0])  # one scene, seen from the same home pose
    colours = [e["source"].split(":target=")[1] for e in episodes]
    assert sorted(colours) == sorted(BLOCK_COLOURS)  # each block once
    assert all(colour in e["instruction"] for colour, e in zip(colours, episodes))
    assert len({e["instruction"] for e in episodes}) == 3


def test_scene_target_rotates_colours_over_scenes():
    colours = tuple(BLOCK_COLOURS)
    assert [scene_target(i, 10, 1, colours) for i in range(2)] == [(10, ""), (11, "")]
    pairs = [scene_target(i, 10, 2, colours) for i in range(4)]
    assert [seed for seed, _ in pairs] == [10, 10, 11, 11]
    assert pairs[0][1] != pairs[1][1] and pairs[0][1] != pairs[2][1]  # the first target moves on
    assert {scene_target(i, 10, 2, ("green", "blue"))[1] for i in range(4)} == {"green", "blue"}


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="targets_per_scene"):
        SimDemoConfig(targets_per_scene=len(BLOCK_COLOURS) + 1)
    with pytest.raises(ValueError, match="task"):
        SimDemoConfig(task="juggle")
    with pytest.raises(ValueError, match="noise has unknown"):
        SimDemoConfig(noise={"wobble": 1.0})
    with pytest.raises(ValueError, match="noisy_share"):
        SimDemoConfig(noisy_share=1.5)
