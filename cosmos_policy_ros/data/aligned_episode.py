# SPDX-License-Identifier: Apache-2.0
"""Turn a recorded episode into an aligned episode on the control clock.

See :mod:`.align` for the exact sampling rule. The episode spans from its START event (or the
bag's first message) to its END event (or last message); ticks start once every stream has
data. Each kept tick becomes one step with the images of every camera, the joint positions
(proprio, preset order) and the commanded joint reference at the tick (action, see align.py).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cosmos_policy_ros.data.align import (NS_PER_S, AlignmentReport, commanded_reference, control_ticks,
                                          max_gap_s, nearest_before)
from cosmos_policy_ros.data.bag_labels import OUTCOME_SUCCESS
from cosmos_policy_ros.data.bag_reader import MODE_POLICY, MODE_TELEOP, RecordedEpisode


@dataclass(frozen=True)
class AlignConfig:
    """How streams are sampled at the control ticks.

    Args:
        control_rate_hz: tick rate (the preset's control rate).
        max_skew_s: largest accepted age of an image or joint state at its tick [s].
    """

    control_rate_hz: float
    max_skew_s: float = 0.15

    def __post_init__(self) -> None:
        if not self.control_rate_hz > 0:
            raise ValueError(f"AlignConfig.control_rate_hz={self.control_rate_hz} must be > 0")
        if not self.max_skew_s > 0:
            raise ValueError(f"AlignConfig.max_skew_s={self.max_skew_s} must be > 0")


@dataclass
class AlignedEpisode:
    """One episode resampled on the control clock (T steps).

    Attributes:
        timestamps_ns: (T,) int64 tick times.
        images: (T, n_cameras, H, W, 3) uint8, cameras in preset order.
        proprio: (T, P) float32 joint positions, raw units.
        actions: (T, D) float32 commanded joint reference at each tick, raw units.
        modes: (T,) uint8 arbiter mode at each tick (MODE_TELEOP when never published).
    """

    episode_id: str
    instruction: str
    outcome: int
    timestamps_ns: np.ndarray
    images: np.ndarray
    proprio: np.ndarray
    actions: np.ndarray
    modes: np.ndarray
    report: AlignmentReport

    @property
    def length(self) -> int:
        return len(self.timestamps_ns)

    @property
    def success(self) -> bool:
        return self.outcome == OUTCOME_SUCCESS

    @property
    def is_rollout(self) -> bool:
        """A policy rollout (the policy commanded at least one step), else a demonstration."""
        return bool(np.any(self.modes == MODE_POLICY))

    @property
    def num_interventions(self) -> int:
        """Switches from POLICY to TELEOP within the episode (a human took over)."""
        return int(np.sum((self.modes[:-1] == MODE_POLICY) & (self.modes[1:] == MODE_TELEOP)))


# camera name, frame as recorded -> the image a step stores
FrameTransform = Callable[[str, np.ndarray], np.ndarray]


def align_episode(recorded: RecordedEpisode, config: AlignConfig,
                  image: FrameTransform = lambda camera, frame: frame) -> AlignedEpisode:
    """Sample every stream of ``recorded`` at the control ticks; drop and count incomplete ticks.

    ``image`` makes each kept frame the image a step stores (default: the frame as recorded; the
    cameras must then share a size).
    """
    span_start, span_end = recorded.span_ns
    firsts = [s.stamps_ns[0] for s in recorded.images.values() if len(s.stamps_ns)]
    firsts += [recorded.joint_stamps_ns[0]] if len(recorded.joint_stamps_ns) else []
    firsts += [recorded.commands.receive_ns[0]] if len(recorded.commands.receive_ns) else []
    ticks = control_ticks(max([span_start, *firsts]), span_end, config.control_rate_hz)
    skew_ns = int(config.max_skew_s * NS_PER_S)

    valid_by_stream: dict[str, np.ndarray] = {}
    picks: dict[str, np.ndarray] = {}
    for camera, stream in recorded.images.items():
        picks[camera], valid_by_stream[camera] = nearest_before(stream.stamps_ns, ticks, skew_ns)
    joint_idx, joint_ok = nearest_before(recorded.joint_stamps_ns, ticks, skew_ns)
    proprio = recorded.joint_positions[joint_idx] if len(recorded.joint_positions) else \
        np.full((len(ticks), recorded.joint_positions.shape[1]), np.nan)
    valid_by_stream["joint_states"] = joint_ok & ~np.isnan(proprio).any(axis=1)
    actions, action_ok = commanded_reference(recorded.commands, ticks)
    valid_by_stream["commands"] = action_ok & ~np.isnan(actions).any(axis=1)

    keep = np.logical_and.reduce(list(valid_by_stream.values())) if len(ticks) else np.zeros(0, bool)
    images = np.stack([
        np.stack([image(cam, recorded.images[cam].frame(int(picks[cam][k])))
                  for cam in recorded.images])  # (n_cameras, H, W, 3)
        for k in np.flatnonzero(keep)]) if keep.any() else np.zeros((0, len(recorded.images), 0, 0, 3), np.uint8)
    mode_idx, mode_ok = nearest_before(recorded.mode_stamps_ns, ticks, np.iinfo(np.int64).max)
    modes = np.where(mode_ok, recorded.modes[mode_idx] if len(recorded.modes) else MODE_TELEOP,
                     MODE_TELEOP).astype(np.uint8)

    streams = {cam: s.stamps_ns for cam, s in recorded.images.items()}
    streams["joint_states"] = recorded.joint_stamps_ns
    streams["commands"] = recorded.commands.receive_ns
    report = AlignmentReport(
        num_ticks=len(ticks), num_kept=int(keep.sum()),
        dropped_by_stream={name: int((~ok).sum()) for name, ok in valid_by_stream.items()},
        max_gap_s_by_stream={name: max_gap_s(stamps) for name, stamps in streams.items()})
    return AlignedEpisode(
        episode_id=recorded.episode_id, instruction=recorded.instruction, outcome=recorded.outcome,
        timestamps_ns=ticks[keep], images=images, proprio=proprio[keep].astype(np.float32),
        actions=actions[keep].astype(np.float32), modes=modes[keep], report=report)
