# SPDX-License-Identifier: Apache-2.0
"""Image transforms shared by training and inference, and the VAE pixel sequence (spec 2.1, 5.1).

Pixel sequence: frame 0 is one black frame (the causal VAE encodes it alone); every later slot is
4 identical frames, so slot i >= 1 maps to exactly latent frame i. Non-image slots are black;
image slots hold the camera image; future-image slots hold the future image (training) or the
current one (inference: content irrelevant, it is replaced by noise).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from cosmos_policy_ros.core.layout import DUPLICATES_PER_SLOT, FrameKind, LatentLayout

PIXEL_SCALE = 127.5  # uint8 -> [-1, 1]: x / 127.5 - 1 (upstream text2world_model)
TEST_TIME_CROP_AREA = 0.9  # upstream evaluation: centre crop of area 0.9, resized back


def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 (H, W, 3) -> uint8 (height, width, 3), PIL bicubic (upstream's PIL default resize)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BICUBIC))


def center_crop_resize(image: np.ndarray, area_fraction: float = TEST_TIME_CROP_AREA) -> np.ndarray:
    """Centre crop of ``area_fraction`` of the area (square-root side), resized back, antialiased.

    Upstream's test-time replacement of the random 90 %-area training crop (``cosmos_utils.py``
    ``apply_image_transforms``: side ``int(H * 0.9 ** 0.5)``, 212 of 224; torchvision
    ``center_crop`` offsets ``round((H - side) / 2)``; ``resize(antialias=True)``: float bilinear
    with antialias, rounded back to uint8). torchvision does not install beside the CPU torch, so
    torch's identical ``interpolate`` call is used.
    """
    height, width = image.shape[:2]
    crop_h, crop_w = int(height * area_fraction ** 0.5), int(width * area_fraction ** 0.5)
    top, left = int(round((height - crop_h) / 2.0)), int(round((width - crop_w) / 2.0))
    crop = torch.from_numpy(np.ascontiguousarray(image[top:top + crop_h, left:left + crop_w]))
    chw = crop.permute(2, 0, 1)[None].float()  # (1, 3, h, w)
    resized = F.interpolate(chw, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return resized[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def preprocess_image(image: np.ndarray, height: int, width: int, center_crop: bool = False) -> np.ndarray:
    """Evaluation preprocessing: resize to the model size, optionally the test-time centre crop."""
    resized = resize_image(image, height, width)
    return center_crop_resize(resized) if center_crop else resized


def images_to_pixels(images: torch.Tensor) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float32 (..., 3, H, W) in [-1, 1]."""
    return images.movedim(-1, -3).float() / PIXEL_SCALE - 1.0


def build_pixel_sequence(layout: LatentLayout, images: torch.Tensor, future_images: torch.Tensor | None = None,
                         num_slots: int | None = None) -> torch.Tensor:
    """The VAE input video for a batch.

    Args:
        layout: latent layout (slot order).
        images: uint8 (B, n_cameras, H, W, 3) current images, cameras in layout order.
        future_images: uint8 (B, n_cameras, H, W, 3) or None (inference: current images reused).
        num_slots: encode only the first ``num_slots`` slots (the causal VAE makes the prefix exact).
    Returns:
        float32 (B, 3, 1 + 4 (num_slots - 1), H, W) in [-1, 1].
    """
    batch, num_cams, height, width, _ = images.shape
    if num_cams != len(layout.config.camera_names):
        raise ValueError(f"expected {len(layout.config.camera_names)} cameras, got {num_cams}")
    future_images = images if future_images is None else future_images
    num_slots = layout.num_frames if num_slots is None else num_slots
    black = torch.full((batch, 3, height, width), -1.0)
    camera_slot = {name: i for i, name in enumerate(layout.config.camera_names)}
    slots = []
    for frame in layout.frames[:num_slots]:
        if frame.kind is FrameKind.IMAGE:
            slots.append(images_to_pixels(images[:, camera_slot[frame.camera]]))
        elif frame.kind is FrameKind.FUTURE_IMAGE:
            slots.append(images_to_pixels(future_images[:, camera_slot[frame.camera]]))
        else:
            slots.append(black)
    repeated = [slots[0][:, :, None]] + [s[:, :, None].expand(-1, -1, DUPLICATES_PER_SLOT, -1, -1)
                                         for s in slots[1:]]
    return torch.cat(repeated, dim=2)  # (B, 3, T_px, H, W)
