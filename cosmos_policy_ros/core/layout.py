# SPDX-License-Identifier: Apache-2.0
"""Latent layout: the ordered latent frames and, per role, which frames condition / carry loss.

Frame order (spec 2.2), one latent frame per slot:

    blank | proprio | image_1 .. image_n | action | future_proprio | future_image_1 .. n | value

Roles (spec 2.3); "cond" = clean conditioning frame, "gen" = generated with loss,
"masked" = noised and generated but without loss. Blank is always cond.

    role           current state  action   future state  value
    POLICY         cond           gen      gen           gen
    WORLD_MODEL    cond           cond     gen           gen
    VALUE          cond           cond     cond          gen      V(s, a, s')
    VALUE_FUTURE   masked         masked   cond          gen      V(s'), planning checkpoint
    Q_VALUE        cond           cond     masked        gen      Q(s, a)
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from cosmos_policy_ros.core.config import LayoutConfig

# Each slot after the blank frame is this many identical pixel frames (= VAE temporal compression).
DUPLICATES_PER_SLOT = 4


class Role(enum.IntEnum):
    """What one generation (or one training sample) predicts."""

    POLICY = 0
    WORLD_MODEL = 1
    VALUE = 2
    VALUE_FUTURE = 3
    Q_VALUE = 4


class FrameKind(enum.Enum):
    BLANK = "blank"
    PROPRIO = "proprio"
    IMAGE = "image"
    ACTION = "action"
    FUTURE_PROPRIO = "future_proprio"
    FUTURE_IMAGE = "future_image"
    VALUE = "value"


@dataclass(frozen=True)
class LatentFrame:
    kind: FrameKind
    camera: str = ""

    @property
    def name(self) -> str:
        if self.kind is FrameKind.IMAGE:
            return self.camera
        if self.kind is FrameKind.FUTURE_IMAGE:
            return f"future_{self.camera}"
        return self.kind.value


class LatentLayout:
    """Ordered latent frames of one robot and the per-role masks.

    Args:
        config: the robot layout (cameras in slot order).
    """

    def __init__(self, config: LayoutConfig) -> None:
        self.config = config
        cams = config.camera_names
        self.frames: tuple[LatentFrame, ...] = (
            (LatentFrame(FrameKind.BLANK), LatentFrame(FrameKind.PROPRIO))
            + tuple(LatentFrame(FrameKind.IMAGE, c) for c in cams)
            + (LatentFrame(FrameKind.ACTION), LatentFrame(FrameKind.FUTURE_PROPRIO))
            + tuple(LatentFrame(FrameKind.FUTURE_IMAGE, c) for c in cams)
            + (LatentFrame(FrameKind.VALUE),))

    @property
    def num_frames(self) -> int:
        """Latent frames S (LIBERO 9, RoboCasa/ALOHA 11)."""
        return len(self.frames)

    @property
    def num_pixel_frames(self) -> int:
        """Pixel frames of the VAE input: 1 blank + 4 duplicates per further slot."""
        return 1 + DUPLICATES_PER_SLOT * (self.num_frames - 1)

    @property
    def frame_names(self) -> list[str]:
        return [f.name for f in self.frames]

    def indices(self, kind: FrameKind) -> list[int]:
        return [i for i, f in enumerate(self.frames) if f.kind is kind]

    def index(self, kind: FrameKind) -> int:
        """Index of the single frame of ``kind`` (blank, proprio, action, future proprio, value)."""
        found = self.indices(kind)
        if len(found) != 1:
            raise ValueError(f"frame kind {kind.value} occurs {len(found)} times in the layout")
        return found[0]

    @property
    def proprio_index(self) -> int:
        return self.index(FrameKind.PROPRIO)

    @property
    def action_index(self) -> int:
        return self.index(FrameKind.ACTION)

    @property
    def future_proprio_index(self) -> int:
        return self.index(FrameKind.FUTURE_PROPRIO)

    @property
    def value_index(self) -> int:
        return self.index(FrameKind.VALUE)

    def state_indices(self, future: bool = False) -> list[int]:
        """Frames of the current (or the predicted future) state: proprio, then images in camera order.

        The two lists line up, so copying ``latents[:, :, state_indices(True)]`` into
        ``state_indices()`` makes a predicted future the current state (deeper plan search).
        """
        proprio, image = ((FrameKind.FUTURE_PROPRIO, FrameKind.FUTURE_IMAGE) if future
                          else (FrameKind.PROPRIO, FrameKind.IMAGE))
        return [self.index(proprio), *self.indices(image)]

    @property
    def num_observation_frames(self) -> int:
        """Frames of the current observation (blank, proprio, images): what inference VAE-encodes."""
        return self.action_index

    def _group(self, *kinds: FrameKind) -> np.ndarray:
        return np.array([f.kind in kinds for f in self.frames])

    def condition_mask(self, role: Role) -> np.ndarray:
        """(T,) bool: True on clean conditioning frames of ``role``."""
        blank = self._group(FrameKind.BLANK)
        current = self._group(FrameKind.PROPRIO, FrameKind.IMAGE)
        action = self._group(FrameKind.ACTION)
        future = self._group(FrameKind.FUTURE_PROPRIO, FrameKind.FUTURE_IMAGE)
        role = Role(role)
        if role is Role.POLICY:
            return blank | current
        if role in (Role.WORLD_MODEL, Role.Q_VALUE):
            return blank | current | action
        if role is Role.VALUE:
            return ~self._group(FrameKind.VALUE)
        return blank | future  # VALUE_FUTURE

    def loss_mask(self, role: Role) -> np.ndarray:
        """(T,) bool: True on frames whose denoising error enters the loss for ``role``."""
        role = Role(role)
        if role in (Role.VALUE, Role.VALUE_FUTURE, Role.Q_VALUE):
            return self._group(FrameKind.VALUE)
        return ~self.condition_mask(role)

    def condition_masks(self, roles: "np.ndarray | list[Role]") -> np.ndarray:
        """(B, T) float32 condition masks for a batch of roles."""
        return np.stack([self.condition_mask(Role(int(r))) for r in roles]).astype(np.float32)

    def loss_masks(self, roles: "np.ndarray | list[Role]") -> np.ndarray:
        """(B, T) float32 loss masks for a batch of roles."""
        return np.stack([self.loss_mask(Role(int(r))) for r in roles]).astype(np.float32)

