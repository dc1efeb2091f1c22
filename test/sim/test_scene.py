# SPDX-License-Identifier: Apache-2.0
"""Scene YAMLs: the default scene unless a file says otherwise, and clear errors for bad files."""
from __future__ import annotations

import numpy as np
import pytest

from cosmos_policy_ros.demo.config import DemoConfig
from cosmos_policy_ros.sim.arm_sim import ArmSim
from cosmos_policy_ros.sim.scene import PRIMARY_CAMERA, WRIST_CAMERA, SceneConfig, build_scene_config
from cosmos_policy_ros.sim.tasks import make_task

CAMERAS = [("wrist", 24, 32), ("primary", 16, 20)]


def test_without_a_file_the_cameras_keep_their_default_mounts():
    config = build_scene_config(CAMERAS)
    wrist, primary = config.cameras
    assert (wrist.name, wrist.height, wrist.width, wrist.position_m) == ("wrist", 24, 32, WRIST_CAMERA.position_m)
    assert (primary.height, primary.width, primary.look_at_m) == (16, 20, PRIMARY_CAMERA.look_at_m)
    assert config.block_half_size_m == SceneConfig().block_half_size_m


def test_a_file_moves_cameras_and_resizes_blocks(tmp_path):
    path = tmp_path / "scene.yaml"
    path.write_text("block_half_size_m: 0.03\n"
                    "camera_mounts:\n  primary: {fovy_deg: 40.0, position_m: [0.5, 0.0, 0.9]}\n")
    config = build_scene_config(CAMERAS, path)
    primary = config.cameras[1]
    assert (primary.fovy_deg, primary.position_m, primary.look_at_m) == (40.0, (0.5, 0.0, 0.9), PRIMARY_CAMERA.look_at_m)
    assert config.cameras[0].position_m == WRIST_CAMERA.position_m
    assert config.block_half_size_m == 0.03


@pytest.mark.parametrize("text, match", [
    ("block_size: 0.03\n", "unknown field"),
    ("block_half_size_m: 0.2\n", "block_half_size_m"),
    ("camera_mounts:\n  primary: {fov: 40.0}\n", "unknown field"),
    ("camera_mounts:\n  primary: {height: 64}\n", "unknown field"),  # sizes come from the robot preset
    ("camera_mounts:\n  primary: {position_m: [0.5, 0.0]}\n", "needs 3 values"),
    ("camera_mounts:\n  top: {fovy_deg: 40.0}\n", "does not have"),
    ("target_colours: [pink]\n", "target_colours"),
    ("target_colours: [red, red]\n", "distinct block colours"),
])
def test_bad_files_are_rejected_with_the_field_named(tmp_path, text, match):
    path = tmp_path / "scene.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        build_scene_config(CAMERAS, path)


def test_the_demo_scene_renders_bigger_blocks_from_above():
    """The demo's scene: its blocks cover more pixels of the 32 px primary view than the default's."""
    def target_pixels(scene_file: str) -> int:
        sim = ArmSim(build_scene_config([("wrist", 32, 32), ("primary", 32, 32)], scene_file))
        make_task("reach").reset(sim, 3)
        image = sim.render("primary").astype(int)
        saturated = image.max(axis=-1) - image.min(axis=-1) > 80
        return int(np.count_nonzero(saturated))

    demo_scene = str(DemoConfig.resolve(DemoConfig().scene))
    assert target_pixels(demo_scene) > 2 * target_pixels("")
