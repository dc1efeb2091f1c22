# SPDX-License-Identifier: Apache-2.0
"""Decoding predicted future images (spec 2.4 "Read future images", pitfall 8.12) on the tiny preset."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cosmos_policy_ros.core import imagination, networks
from cosmos_policy_ros.core.config import LAYOUTS, get_preset
from cosmos_policy_ros.core.layout import LatentLayout, Role
from cosmos_policy_ros.core.model import CosmosPolicy, EncodedObservation

INSTRUCTION = "put the cube in the bowl"
HUGE = 1e4  # far outside the unit-scale latents: smears visibly if it ever reaches the decoder


@pytest.fixture(scope="module")
def model() -> CosmosPolicy:
    torch.manual_seed(0)
    return CosmosPolicy(get_preset("tiny")).eval()


def _observation(model: CosmosPolicy) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.RandomState(3)
    images = {c: rng.randint(0, 256, (40, 48, 3), dtype=np.uint8) for c in model.config.layout.camera_names}
    return images, rng.uniform(-1, 1, model.config.layout.proprio_dim)


@pytest.fixture(scope="module")
def encoded(model: CosmosPolicy) -> EncodedObservation:
    return model.encode_observation(*_observation(model), INSTRUCTION, keep_placeholders=True)


@pytest.fixture(scope="module")
def policy_latents(model: CosmosPolicy, encoded: EncodedObservation) -> torch.Tensor:
    return model.generate(encoded, Role.POLICY, 2, [4, 5])


@pytest.mark.parametrize("platform, slots, placeholders, future_frames, current_frames", [
    ("libero", 9, [0, 1, 4, 5], {"wrist": 21, "primary": 25}, {"wrist": 5, "primary": 9}),
    ("robocasa", 11, [0, 1, 5, 6], {"wrist": 25, "primary": 29, "secondary": 33},
     {"wrist": 5, "primary": 9, "secondary": 13}),
    ("aloha", 11, [0, 1, 5, 6], {"left_wrist": 25, "right_wrist": 29, "primary": 33},
     {"left_wrist": 5, "right_wrist": 9, "primary": 13}),
])
def test_slot_and_pixel_frame_arithmetic_matches_upstream(platform: str, slots: int, placeholders: list[int],
                                                          future_frames: dict[str, int],
                                                          current_frames: dict[str, int]) -> None:
    layout = LatentLayout(LAYOUTS[platform])
    assert layout.num_frames == slots
    assert imagination.placeholder_slots(layout) == placeholders  # upstream INDICES_TO_REPLACE
    assert imagination.num_placeholder_slots(layout) == placeholders[-1] + 1
    assert imagination.last_image_slot(layout) == slots - 2  # the value slot is last
    # Frame t of a synthetic decode holds the number t: each picture must come from 4 (slot - 1) + 1.
    num_pixel_frames = 1 + 4 * imagination.last_image_slot(layout)
    frames = np.broadcast_to(np.arange(num_pixel_frames, dtype=np.uint8)[None, :, None, None, None],
                             (2, num_pixel_frames, 3, 5, 3))
    decoded = imagination.read_images(layout, frames)
    assert {c: int(img[0, 0, 0, 0]) for c, img in decoded.future.items()} == future_frames
    assert {c: int(img[0, 0, 0, 0]) for c, img in decoded.current.items()} == current_frames
    assert list(decoded.future) == list(layout.config.camera_names)
    with pytest.raises(ValueError, match="slot=0"):
        imagination.pixel_frame_index(0)


def test_encoding_keeps_placeholders_without_changing_the_conditioning(model: CosmosPolicy,
                                                                       encoded: EncodedObservation) -> None:
    num_observed = model.layout.num_observation_frames
    placeholders = encoded.placeholder_latents
    assert placeholders.shape[2] == imagination.num_placeholder_slots(model.layout)
    assert torch.equal(encoded.latents[:, :, 2:num_observed], placeholders[:, :, 2:num_observed])  # images
    assert torch.equal(encoded.latents[:, :, 0], placeholders[:, :, 0])  # blank
    assert not torch.equal(encoded.latents[:, :, 1], placeholders[:, :, 1])  # proprio injected only here
    assert torch.count_nonzero(encoded.latents[:, :, num_observed:]) == 0
    # The causal encoder makes the observation prefix of the longer pass exact: the default
    # (control-path) encoding conditions generation identically, it just keeps no placeholders.
    plain = model.encode_observation(*_observation(model), INSTRUCTION)
    assert plain.placeholder_latents is None and torch.equal(plain.latents, encoded.latents)


def test_shapes_dtypes_and_camera_order(model: CosmosPolicy, encoded: EncodedObservation,
                                        policy_latents: torch.Tensor) -> None:
    decoded = model.decode_images(encoded, policy_latents)
    layout = model.config.layout
    for images in (decoded.future, decoded.current):
        assert list(images) == list(layout.camera_names)
        for image in images.values():
            assert image.dtype == np.uint8 and image.shape == (2, layout.image_height, layout.image_width, 3)
            assert image.flags.c_contiguous
    future = model.decode_future_images(encoded, policy_latents)
    assert list(future) == list(layout.camera_names)
    for camera in layout.camera_names:
        np.testing.assert_array_equal(future[camera], decoded.future[camera])


def test_injected_numbers_never_reach_the_decoded_images(model: CosmosPolicy, encoded: EncodedObservation,
                                                         policy_latents: torch.Tensor) -> None:
    layout = model.layout
    poisoned = policy_latents.clone()
    for slot in (layout.proprio_index, layout.action_index, layout.future_proprio_index, layout.value_index):
        poisoned[:, :, slot] = HUGE
    clean = model.decode_images(encoded, policy_latents)
    after = model.decode_images(encoded, poisoned)
    for camera in model.config.layout.camera_names:
        np.testing.assert_array_equal(after.future[camera], clean.future[camera])
        np.testing.assert_array_equal(after.current[camera], clean.current[camera])
    # The same latents decoded without the restore: the injected numbers smear into later frames
    # (proprio into the current images, action and future proprio into the future images).
    frames = imagination.pixels_to_images(networks.vae_decode(model.vae, poisoned))
    raw = imagination.read_images(layout, frames)
    for camera in model.config.layout.camera_names:
        assert not np.array_equal(raw.future[camera], clean.future[camera])
        assert not np.array_equal(raw.current[camera], clean.current[camera])


def test_decoding_stops_before_the_value_slot_without_changing_any_picture(
        model: CosmosPolicy, encoded: EncodedObservation, policy_latents: torch.Tensor) -> None:
    restored = imagination.restore_placeholders(policy_latents, encoded.placeholder_latents, model.layout)
    assert restored.shape[2] == model.layout.num_frames - 1
    whole = torch.cat([restored, policy_latents[:, :, model.layout.value_index:]], dim=2)
    prefix_pixels = networks.vae_decode(model.vae, restored)
    whole_pixels = networks.vae_decode(model.vae, whole)
    assert torch.equal(prefix_pixels, whole_pixels[:, :, :prefix_pixels.shape[2]])


def test_world_model_latents_decode_and_decoding_is_deterministic(
        model: CosmosPolicy, encoded: EncodedObservation, policy_latents: torch.Tensor) -> None:
    condition = model.condition_from_generated(encoded, policy_latents)
    world = model.generate(encoded, Role.WORLD_MODEL, 1, [4, 5], condition)
    world_before = world.clone()
    first = model.decode_future_images(encoded, world)
    again = model.decode_future_images(encoded, world.clone())
    single = model.decode_future_images(encoded, world[1:])
    for camera in model.config.layout.camera_names:
        np.testing.assert_array_equal(first[camera], again[camera])
        # Batched convolutions round differently in float: at most one uint8 level.
        assert np.abs(single[camera][0].astype(int) - first[camera][1]).max() <= 1
    assert torch.equal(world, world_before)  # the restore works on a copy


def test_refuses_observations_without_placeholders_and_wrong_shapes(model: CosmosPolicy,
                                                                    encoded: EncodedObservation,
                                                                    policy_latents: torch.Tensor) -> None:
    plain = model.encode_observation(*_observation(model), INSTRUCTION)
    with pytest.raises(ValueError, match="keep_placeholders=True"):
        model.decode_future_images(plain, policy_latents)
    with pytest.raises(ValueError, match="latents must be"):
        model.decode_future_images(encoded, policy_latents[:, :, :-1])
    short = EncodedObservation(latents=encoded.latents, text_embedding=encoded.text_embedding,
                               proprio_normalized=encoded.proprio_normalized,
                               placeholder_latents=encoded.placeholder_latents[:, :, :3])
    with pytest.raises(ValueError, match="need"):
        model.decode_future_images(short, policy_latents)
