# SPDX-License-Identifier: Apache-2.0
"""Reading pictures out of a generated latent sequence (spec 2.4 "Read future images", pitfall 8.12).

The generated latent holds numbers written straight into the proprio, action and future-proprio
slots. The Wan decoder is causal, so decoding those numbers would smear them into every later
pixel frame, future images included. Before decoding, every non-image slot up to the last image
slot is restored to the clean VAE latent of its black placeholder frames, taken from the
observation's own encoding (upstream ``undo_latent_injection``, ``cosmos_utils.py`` L680-763).
The value slot is last, so the causal decoder never lets it reach an image: the decode stops
before it (bit-identical to decoding the whole sequence, and 4 pixel frames cheaper).

Image slot i (i >= 1) decodes to pixel frames 4i-3 .. 4i (spec 2.1); the first of them,
4(i-1) + 1, is the picture.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cosmos_policy_ros.core.layout import DUPLICATES_PER_SLOT, FrameKind, LatentLayout
from cosmos_policy_ros.core.transforms import PIXEL_SCALE

UINT8_MAX = 255.0
IMAGE_KINDS = (FrameKind.IMAGE, FrameKind.FUTURE_IMAGE)


@dataclass
class DecodedImages:
    """Pictures decoded from generated latents, camera name -> uint8 (B, H, W, 3), layout order.

    future: the predicted images of the future state. current: the VAE reconstruction of the
    current images (conditioning frames, so equal to the observation up to VAE loss).
    """

    future: dict[str, np.ndarray]
    current: dict[str, np.ndarray]


def pixel_frame_index(slot: int) -> int:
    """First decoded pixel frame of latent slot ``slot`` >= 1: 4 (slot - 1) + 1 (slot 0 is frame 0)."""
    if slot < 1:
        raise ValueError(f"slot={slot} has no 4-frame pixel group; image slots start at 1")
    return DUPLICATES_PER_SLOT * (slot - 1) + 1


def last_image_slot(layout: LatentLayout) -> int:
    """Index of the last image slot: decoding the prefix up to it yields every picture."""
    return max(layout.indices(FrameKind.FUTURE_IMAGE))


def placeholder_slots(layout: LatentLayout) -> list[int]:
    """Non-image slots before the last image slot (LIBERO 0, 1, 4, 5; 11-slot layouts 0, 1, 5, 6)."""
    before_last_image = layout.frames[:last_image_slot(layout)]
    return [i for i, frame in enumerate(before_last_image) if frame.kind not in IMAGE_KINDS]


def num_placeholder_slots(layout: LatentLayout) -> int:
    """Slots the observation encoding must cover so every placeholder latent is known."""
    return max(placeholder_slots(layout)) + 1


def restore_placeholders(latents: torch.Tensor, placeholder_latents: torch.Tensor,
                         layout: LatentLayout) -> torch.Tensor:
    """Copy of ``latents`` cut before the value slot, its non-image slots set to the placeholders.

    Args:
        latents: (B, C, T, h, w) generated latents (any role).
        placeholder_latents: (1 or B, C, S, h, w) clean VAE latents of the pixel sequence, nothing
            injected, S >= ``num_placeholder_slots(layout)``.
        layout: the latent layout of both.
    Returns:
        (B, C, last_image_slot + 1, h, w) latents ready for ``networks.vae_decode``.
    """
    if latents.ndim != 5 or latents.shape[2] != layout.num_frames:
        raise ValueError(f"latents must be (B, C, {layout.num_frames}, h, w), got {tuple(latents.shape)}")
    needed = num_placeholder_slots(layout)
    if placeholder_latents.shape[2] < needed:
        raise ValueError(f"placeholder_latents cover {placeholder_latents.shape[2]} slots, need {needed}")
    out = latents[:, :, :last_image_slot(layout) + 1].clone()
    slots = placeholder_slots(layout)
    out[:, :, slots] = placeholder_latents[:, :, slots].to(out)
    return out


def pixels_to_images(pixels: torch.Tensor) -> np.ndarray:
    """float (B, 3, T, H, W) in [-1, 1] -> uint8 (B, T, H, W, 3), rounded to nearest (inverse of
    ``transforms.images_to_pixels``; upstream truncates, at most one level darker)."""
    scaled = ((pixels.float() + 1.0) * PIXEL_SCALE).round().clamp(0.0, UINT8_MAX)
    return scaled.to(torch.uint8).permute(0, 2, 3, 4, 1).cpu().numpy()


def read_images(layout: LatentLayout, frames: np.ndarray) -> DecodedImages:
    """Pick each image slot's picture out of decoded uint8 frames (B, T_px, H, W, 3)."""
    def pick(kind: FrameKind) -> dict[str, np.ndarray]:
        return {layout.frames[slot].camera: np.ascontiguousarray(frames[:, pixel_frame_index(slot)])
                for slot in layout.indices(kind)}

    return DecodedImages(future=pick(FrameKind.FUTURE_IMAGE), current=pick(FrameKind.IMAGE))
