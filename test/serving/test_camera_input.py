# SPDX-License-Identifier: Apache-2.0
"""Driver frames -> model images (serving.camera_input) against the official ALOHA client resize
(re-implemented from upstream in ``test/official_upstream.py``), and the refusal of other sizes."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from cosmos_policy_ros.core.config import LayoutConfig
from cosmos_policy_ros.presets import CameraSpec, load_preset
from cosmos_policy_ros.serving.camera_input import model_image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from official_upstream import official_aloha_client_resize  # noqa: E402

ALOHA = load_preset("aloha")


def _frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A gradient plus noise: interpolation weights and the resize chain both show in the result."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (height + width)], axis=-1)
    return np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)


def test_aloha_preset_declares_the_drivers_frames_and_the_models_size() -> None:
    """RealSense 640x480 on each camera (Interbotix/aloha config/rs_cam.yaml); the model sees 224x224."""
    assert {(c.frame_size, c.model_size) for c in ALOHA.cameras} == {((480, 640), (224, 224))}
    layout = LayoutConfig.from_robot_preset(ALOHA)
    assert (layout.image_height, layout.image_width) == (224, 224)


@pytest.mark.parametrize("seed", [0, 1])
def test_aloha_frames_resize_as_the_official_client(seed: int) -> None:
    for i, camera in enumerate(ALOHA.cameras):
        frame = _frame(480, 640, seed=10 * seed + i)
        ours = model_image(frame, camera)
        assert ours.shape == (224, 224, 3) and ours.dtype == np.uint8
        assert np.array_equal(ours, official_aloha_client_resize(frame))


def test_frame_of_another_size_is_refused_with_the_reason() -> None:
    camera = ALOHA.cameras[0]
    with pytest.raises(ValueError, match=r"cam_left_wrist: frame is 224x224, the preset's driver publishes 640x480"):
        model_image(_frame(224, 224), camera)


def test_camera_without_a_model_size_passes_frames_through() -> None:
    """The sim presets: the driver publishes what the model sees; nothing is resized."""
    camera = CameraSpec("wrist", "wrist/image_raw", height=32, width=32)
    frame = _frame(32, 32)
    assert camera.model_size == (32, 32) and model_image(frame, camera) is frame


@pytest.mark.parametrize("fields", [{"model_height": 224}, {"model_height": 0, "model_width": 224},
                                    {"preprocess_size": 0}])
def test_camera_sizes_are_validated_at_load(fields: dict) -> None:
    with pytest.raises(ValueError, match="cameras\\[cam\\]"):
        CameraSpec("cam", "cam/image", height=480, width=640, **fields)
