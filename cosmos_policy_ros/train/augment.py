# SPDX-License-Identifier: Apache-2.0
"""Training image augmentation (spec 4.3, upstream ``use_stronger_image_aug=True``).

One random draw per sample, applied identically to every frame of the sample (all cameras,
current and future images), in this order: random-resized crop of exactly 90 % of the area with
aspect 1 (resized back, antialiased), rotation U(-5, 5) degrees, brightness U(0.7, 1.3),
contrast U(0.6, 1.4), saturation U(0.5, 1.5), hue U(-0.05, 0.05). Colour operations follow
torchvision's definitions (blend with black / the mean grey / the per-pixel grey; hue shift in
HSV). Written with torch only (torchvision does not install beside the CPU torch here).
Blank frames need no augmentation: every operation maps black to black.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cosmos_policy_ros.core import features

CROP_AREA_FRACTION = 0.9
ROTATION_DEG = 5.0
BRIGHTNESS = (0.7, 1.3)
CONTRAST = (0.6, 1.4)
SATURATION = (0.5, 1.5)
HUE = (-0.05, 0.05)
GREY_WEIGHTS = (0.2989, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale
UINT8_MAX = 255.0


@dataclass(frozen=True)
class AugmentDraw:
    """The random parameters of one sample (crop in pixels, angle in degrees, colour factors)."""

    crop_top: int
    crop_left: int
    crop_size: tuple[int, int]
    angle_deg: float
    brightness: float
    contrast: float
    saturation: float
    hue: float


def draw_parameters(height: int, width: int, generator: torch.Generator) -> AugmentDraw:
    """One draw for an image of (height, width)."""
    def uniform(low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand((), generator=generator, dtype=torch.float64))
    side = math.sqrt(CROP_AREA_FRACTION * height * width)  # aspect 1
    crop_h, crop_w = min(height, int(round(side))), min(width, int(round(side)))
    top = int(torch.randint(0, height - crop_h + 1, (), generator=generator))
    left = int(torch.randint(0, width - crop_w + 1, (), generator=generator))
    return AugmentDraw(top, left, (crop_h, crop_w), uniform(-ROTATION_DEG, ROTATION_DEG),
                       uniform(*BRIGHTNESS),
                       uniform(*CONTRAST), uniform(*SATURATION), uniform(*HUE))


def _grey(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) luma."""
    weights = torch.tensor(GREY_WEIGHTS, dtype=images.dtype).reshape(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)


def _rotate(images: torch.Tensor, angle_deg: float) -> torch.Tensor:
    """Rotate (N, 3, H, W) about the centre, bilinear, black outside."""
    angle = math.radians(angle_deg)
    cos, sin = math.cos(angle), math.sin(angle)
    theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=images.dtype)
    grid = F.affine_grid(theta.expand(images.shape[0], 2, 3), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _shift_hue(images: torch.Tensor, shift: float) -> torch.Tensor:
    """Hue rotation of (N, 3, H, W) in [0, 1] by ``shift`` turns (RGB -> HSV -> RGB)."""
    r, g, b = images.unbind(1)
    value, _ = images.max(1)
    chroma = value - images.min(1).values
    safe = torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    hue = torch.where(value == r, (g - b) / safe,
                      torch.where(value == g, 2 + (b - r) / safe, 4 + (r - g) / safe))
    hue = torch.where(chroma > 0, (hue / 6) % 1.0, torch.zeros_like(hue))
    hue = (hue + shift) % 1.0
    saturation = torch.where(value > 0, chroma / torch.where(value > 0, value, torch.ones_like(value)),
                             torch.zeros_like(value))
    k = (torch.tensor([5.0, 3.0, 1.0]).reshape(1, 3, 1, 1) + hue[:, None] * 6) % 6
    weight = torch.clamp(torch.minimum(k, 4 - k), 0, 1)
    return value[:, None] - value[:, None] * saturation[:, None] * weight


def apply_draw(images: torch.Tensor, draw: AugmentDraw) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> augmented uint8 (N, H, W, 3), the same draw on every image."""
    height, width = images.shape[1:3]
    x = images.permute(0, 3, 1, 2).float() / UINT8_MAX  # (N, 3, H, W)
    bottom, right = draw.crop_top + draw.crop_size[0], draw.crop_left + draw.crop_size[1]
    crop = x[:, :, draw.crop_top:bottom, draw.crop_left:right]
    x = F.interpolate(crop, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    x = _rotate(x.clamp(0, 1), draw.angle_deg)
    x = (x * draw.brightness).clamp(0, 1)
    mean_grey = _grey(x).mean(dim=(1, 2, 3), keepdim=True)
    x = (draw.contrast * x + (1 - draw.contrast) * mean_grey).clamp(0, 1)
    x = (draw.saturation * x + (1 - draw.saturation) * _grey(x)).clamp(0, 1)
    x = _shift_hue(x, draw.hue)
    return (x * UINT8_MAX).round().clamp(0, UINT8_MAX).to(torch.uint8).permute(0, 2, 3, 1)


def augment_batch(batch: dict, seeds: list[int]) -> dict:
    """Copy of a collated batch with current and future images augmented, one draw per sample.

    Args:
        batch: ``features.OBS_IMAGES`` / ``FUTURE_IMAGES`` uint8 (B, n_cams, H, W, 3).
        seeds: one seed per sample (see ``mixture.sample_seed``).
    """
    current = torch.as_tensor(batch[features.OBS_IMAGES])
    future = torch.as_tensor(batch[features.FUTURE_IMAGES])
    num_cams = current.shape[1]
    out_current, out_future = torch.empty_like(current), torch.empty_like(future)
    for i, seed in enumerate(seeds):
        draw = draw_parameters(current.shape[2], current.shape[3], torch.Generator().manual_seed(seed))
        frames = apply_draw(torch.cat([current[i], future[i]]), draw)  # (2 n_cams, H, W, 3)
        out_current[i], out_future[i] = frames[:num_cams], frames[num_cams:]
    return {**batch, features.OBS_IMAGES: out_current, features.FUTURE_IMAGES: out_future}
