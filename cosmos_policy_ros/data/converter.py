# SPDX-License-Identifier: Apache-2.0
"""Bags -> training set: read, align, value targets, split by episode, statistics.

Output layout: :mod:`.training_set`. Statistics cover the training split only (no validation
leakage); with ``stats_success_only`` they use the successful episodes, as upstream computes
them over its success-only demonstrations.

Images: each stored frame is the image policy_node feeds the model for the same message
(:func:`training_image`: ``serving.camera_input.model_image``, the one function both use; ALOHA's
640x480 -> 256 -> 224), so training and deployment see the same pixels. A frame of another size
than the preset's driver publishes is refused, as policy_node refuses it.

Gaps: ticks whose sensors are stale are dropped (see :mod:`.align`), so two kept steps can lie
further apart than one control period. Every interval between consecutive kept steps longer
than ``max_gap_s`` is a gap; the report lists the gap count and the longest gap per episode.
``on_gap="keep"`` (default) keeps such an episode whole: the steps on either side of the gap
become neighbours in the training set (an action chunk then spans the gap). ``on_gap="skip"``
leaves the episode out instead.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cosmos_policy_ros.core.codec import DatasetStatistics, monte_carlo_returns
from cosmos_policy_ros.core.pretrained import STATISTICS_FILE
from cosmos_policy_ros.core.transforms import resize_image
from cosmos_policy_ros.data.align import NS_PER_S
from cosmos_policy_ros.data.aligned_episode import AlignConfig, AlignedEpisode, align_episode
from cosmos_policy_ros.data.atomic_dir import staged
from cosmos_policy_ros.data.bag_labels import OUTCOME_FAILURE, OUTCOME_SUCCESS
from cosmos_policy_ros.data.bag_reader import BagTopics, RecordedEpisode, read_episode_bag
from cosmos_policy_ros.data.training_set import write_episode_arrays, write_index
from cosmos_policy_ros.presets import CameraSpec, RobotPreset
from cosmos_policy_ros.serving.camera_input import model_image

LOG = logging.getLogger(__name__)
UNKNOWN_OUTCOME_POLICIES = ("skip", "failure")
GAP_POLICIES = ("keep", "skip")
OUTCOME_NAMES = {OUTCOME_SUCCESS: "success", OUTCOME_FAILURE: "failure"}


@dataclass(frozen=True)
class ConvertConfig:
    """Conversion settings (everything else comes from the robot preset).

    Args:
        image_size: square side of stored images [px]; None = the preset's model image size (what
            policy_node feeds the model). Another size is for a model served with a preset of
            that size: policy_node refuses a checkpoint whose image size differs from its preset's.
        gamma: discount of the value targets (0.99 upstream LIBERO/RoboCasa, 0.998 ALOHA).
        max_skew_s: largest accepted age of a sensor sample at its control tick [s].
        val_fraction: share of episodes held out for validation (split by episode).
        seed: seed of the episode shuffle of the split.
        unknown_outcome: episodes without an outcome are "skip"ped or treated as "failure".
        stats_success_only: statistics over successful training episodes only (upstream).
        max_gap_s: longest interval between consecutive kept steps that is not a gap [s].
        on_gap: episodes with a gap are kept whole ("keep") or left out ("skip").
        status_topic: PolicyStatus topic with the arbiter mode.
        event_topics: EpisodeEvent topics (outcomes, episode boundaries).
    """

    image_size: int | None = None
    gamma: float = 0.99
    max_skew_s: float = 0.15
    val_fraction: float = 0.1
    seed: int = 0
    unknown_outcome: str = "skip"
    stats_success_only: bool = True
    max_gap_s: float = 0.5
    on_gap: str = "keep"
    status_topic: str = "/command_arbiter/status"
    event_topics: tuple[str, ...] = ("task/events", "/recorder/events")

    def __post_init__(self) -> None:
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"ConvertConfig.gamma={self.gamma} must be in (0, 1]")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"ConvertConfig.val_fraction={self.val_fraction} must be in [0, 1)")
        if self.unknown_outcome not in UNKNOWN_OUTCOME_POLICIES:
            raise ValueError(f"ConvertConfig.unknown_outcome={self.unknown_outcome!r} must be one "
                             f"of {UNKNOWN_OUTCOME_POLICIES}")
        if not self.max_gap_s > 0:
            raise ValueError(f"ConvertConfig.max_gap_s={self.max_gap_s} must be > 0")
        if self.on_gap not in GAP_POLICIES:
            raise ValueError(f"ConvertConfig.on_gap={self.on_gap!r} must be one of {GAP_POLICIES}")
        if self.image_size is not None and self.image_size < 1:
            raise ValueError(f"ConvertConfig.image_size={self.image_size} must be >= 1")
        AlignConfig(1.0, self.max_skew_s)  # validates the shared fields


@dataclass
class EpisodeSummary:
    source: str
    episode_id: str
    length: int
    duration_s: float
    outcome: str
    is_rollout: bool
    interventions: int
    dropped_ticks: dict[str, int]
    max_gap_s: dict[str, float]
    gaps: int = 0
    longest_gap_s: float = 0.0
    split: str = ""
    skipped: str = ""


@dataclass
class ConversionReport:
    episodes: list[EpisodeSummary] = field(default_factory=list)
    written: bool = False  # the training set replaced the output folder

    @property
    def converted(self) -> list[EpisodeSummary]:
        return [e for e in self.episodes if not e.skipped]

    def format(self) -> str:
        """A table of episodes: length, outcome, dropped ticks, split."""
        lines = [f"{'episode':<28} {'steps':>6} {'dur_s':>7} {'outcome':>8} {'kind':>8} "
                 f"{'dropped':>8} {'gaps':>5} split"]
        for e in self.episodes:
            kind = "rollout" if e.is_rollout else "demo"
            if e.skipped:  # the reason in full, with the bag it concerns
                lines.append(f"{e.episode_id[:28]:<28} {e.source}: {e.skipped}")
                continue
            lines.append(f"{e.episode_id[:28]:<28} {e.length:>6} {e.duration_s:>7.2f} {e.outcome:>8} "
                         f"{kind:>8} {sum(e.dropped_ticks.values()):>8} {e.gaps:>5} "
                         f"{e.split or e.skipped}")
        done = self.converted
        lines.append(f"{len(done)} episode(s) converted, {len(self.episodes) - len(done)} skipped, "
                     f"{sum(e.length for e in done)} steps, "
                     f"{sum(e.outcome == 'success' for e in done)} success, "
                     f"{sum(e.gaps > 0 for e in done)} kept with gaps")
        return "\n".join(lines)


def bag_topics(preset: RobotPreset, config: ConvertConfig) -> BagTopics:
    return BagTopics(cameras={c.name: c.topic for c in preset.cameras},
                     state_sources=preset.state_sources, commands=preset.controller_topic,
                     status=config.status_topic, events=config.event_topics)


def stored_image_size(preset: RobotPreset, config: ConvertConfig) -> int:
    """The square side the training set stores: ``config.image_size``, else the preset's model size.

    Raises:
        ValueError: no size given and the preset's cameras do not feed the model one square size.
    """
    if config.image_size is not None:
        return config.image_size
    sizes = sorted({c.model_size for c in preset.cameras})
    if len(sizes) != 1 or sizes[0][0] != sizes[0][1]:
        raise ValueError(f"preset {preset.name}: the cameras feed the model {sizes} (height, width); a training "
                         f"set stores one square size: give image_size")
    return sizes[0][0]


def training_image(frame: np.ndarray, camera: CameraSpec, size: int) -> np.ndarray:
    """What the training set stores of one recorded frame: the image policy_node feeds the model
    for it (``model_image``, raising for a frame of another size than the driver's), at ``size``."""
    image = model_image(frame, camera)
    return resize_image(image, size, size)


def split_episodes(count: int, val_fraction: float, seed: int) -> list[str]:
    """"train"/"val" per episode; at least one of each when there are >= 2 episodes and val > 0."""
    num_val = int(round(count * val_fraction))
    if val_fraction > 0 and count >= 2:
        num_val = min(max(num_val, 1), count - 1)
    order = np.random.default_rng(seed).permutation(count)
    val = set(order[:num_val].tolist())
    return ["val" if i in val else "train" for i in range(count)]


@dataclass(frozen=True)
class WrittenEpisode:
    """An episode whose arrays are on disk; what the index and the statistics still need of it."""

    summary: EpisodeSummary
    file: str
    instruction: str
    actions: np.ndarray
    proprio: np.ndarray


def write_episode(out: Path, index: int, summary: EpisodeSummary, instruction: str,
                  arrays: dict[str, np.ndarray], gamma: float) -> WrittenEpisode:
    """Write one episode's arrays plus its value targets (terminal reward 1 on success, else 0:
    -1 at every step of a failure, spec 4.2)."""
    reward = 1.0 if summary.outcome == "success" else 0.0
    returns = monte_carlo_returns(summary.length, gamma, terminal_reward=reward)
    relative = write_episode_arrays(out, index, {**arrays, "returns": returns})
    return WrittenEpisode(summary, relative, instruction, arrays["actions"], arrays["proprio"])


def finish_training_set(out: Path, kept: Sequence[WrittenEpisode], preset: RobotPreset,
                        config: ConvertConfig) -> None:
    """Split, statistics and index of episodes written by :func:`write_episode` (bags or sim)."""
    splits = split_episodes(len(kept), config.val_fraction, config.seed)
    for episode, split in zip(kept, splits):
        episode.summary.split = split
    train = [k for k in kept if k.summary.split == "train"]
    chosen = [k for k in train if k.summary.outcome == "success" or not config.stats_success_only]
    if train and not chosen:
        LOG.warning("no successful training episode for statistics; using every training episode")
        chosen = train
    if chosen:
        DatasetStatistics.from_arrays(np.concatenate([k.actions for k in chosen]),
                                      np.concatenate([k.proprio for k in chosen])).to_json(out / STATISTICS_FILE)
    entries = [{"file": k.file, "instruction": k.instruction, **asdict(k.summary)} for k in kept]
    write_index(out, {
        "preset": preset.name, "joints": list(preset.joints),
        "cameras": [c.name for c in preset.cameras], "image_size": stored_image_size(preset, config),
        "control_rate_hz": preset.control_rate_hz, "chunk_length": preset.chunk_length,
        "gamma": config.gamma, "episodes": entries,
        "splits": {s: [i for i, x in enumerate(splits) if x == s] for s in ("train", "val")}})


def _summary(source: Path, episode: AlignedEpisode, outcome: str, max_gap_s: float) -> EpisodeSummary:
    duration = (episode.timestamps_ns[-1] - episode.timestamps_ns[0]) / NS_PER_S if episode.length else 0.0
    steps_s = np.diff(episode.timestamps_ns) / NS_PER_S  # intervals between kept steps
    return EpisodeSummary(str(source), episode.episode_id, episode.length, float(duration), outcome,
                          episode.is_rollout, episode.num_interventions,
                          episode.report.dropped_by_stream, episode.report.max_gap_s_by_stream,
                          gaps=int(np.sum(steps_s > max_gap_s)),
                          longest_gap_s=float(steps_s.max()) if len(steps_s) else 0.0)


def convert_bags(bags: Sequence[Path], out: Path, preset: RobotPreset, config: ConvertConfig,
                 progress: Callable[[Sequence[Path]], Sequence[Path]] = lambda x: x) -> ConversionReport:
    """Convert episode bags into a training set at ``out``, all or nothing.

    Every bag is converted or skipped with a reason in the report; a bag that cannot be read is
    skipped and named, never aborting the others. The set is written into a temporary folder and
    replaces ``out`` only when at least one episode converted (``report.written``); otherwise a
    previous set at ``out`` stays as it was.

    Args:
        bags: one bag folder per episode.
        out: output folder (replaced as a whole).
        preset: robot preset (joints, cameras, topics, control rate, chunk length).
        config: conversion settings.
        progress: wraps the bag list (e.g. ``tqdm``) to show progress.
    """
    topics = bag_topics(preset, config)
    align_config = AlignConfig(preset.control_rate_hz, config.max_skew_s)
    size, cameras = stored_image_size(preset, config), {c.name: c for c in preset.cameras}
    fed = sorted({f"{w}x{h}" for h, w in (c.model_size for c in preset.cameras)} - {f"{size}x{size}"})
    if fed:
        LOG.warning("image size %dx%d: the preset %s feeds the model %s; policy_node serves a model trained on "
                    "this set only with a preset of %dx%d", size, size, preset.name, ", ".join(fed), size, size)
    report, kept = ConversionReport(), []
    with staged(Path(out)) as stage:
        for bag in progress(list(bags)):
            try:
                recorded = read_episode_bag(Path(bag), topics, preset.joints, preset.joint_units)
                episode = align_episode(recorded, align_config,
                                        lambda name, frame: training_image(frame, cameras[name], size))
            except Exception as err:  # noqa: BLE001 - any broken bag is reported, the rest converts
                LOG.warning("%s: cannot be read: %s", bag, err)
                report.episodes.append(EpisodeSummary(str(bag), Path(bag).name, 0, 0.0, "unknown", False, 0,
                                                      {}, {}, skipped=f"skipped: unreadable bag: {err}"))
                continue
            summary = _summary(Path(bag), episode, OUTCOME_NAMES.get(episode.outcome, "unknown"),
                               config.max_gap_s)
            report.episodes.append(summary)
            if summary.gaps:
                LOG.warning("%s: %d gap(s) longer than %.2f s (longest %.2f s), on_gap=%s", bag,
                            summary.gaps, config.max_gap_s, summary.longest_gap_s, config.on_gap)
            if episode.length == 0:
                summary.skipped = f"skipped: no complete step ({_why_no_step(recorded, episode)})"
            elif summary.outcome == "unknown" and config.unknown_outcome == "skip":
                summary.skipped = "skipped: no outcome (cosmos-policy relabel BAG success|failure)"
            elif summary.gaps and config.on_gap == "skip":
                summary.skipped = "skipped: gap"
            else:  # written now so only the small arrays stay in memory
                kept.append(write_episode(stage.path, len(kept), summary, episode.instruction, {
                    "images": episode.images, "proprio": episode.proprio, "actions": episode.actions,
                    "modes": episode.modes, "timestamps_ns": episode.timestamps_ns}, config.gamma))
        if kept:
            finish_training_set(stage.path, kept, preset, config)
            stage.commit()
            report.written = True
    return report


def _why_no_step(recorded: RecordedEpisode, episode: AlignedEpisode) -> str:
    """Name the likely cause when no tick had every stream: clocks that do not overlap (a
    recorder on wall time next to a sim on /clock), else the streams that were missing."""
    start_ns, end_ns = recorded.span_ns
    stamps = recorded.joint_stamps_ns
    if len(stamps) and (stamps[-1] < start_ns or stamps[0] > end_ns):
        return ("the episode's START/END times and the sensor stamps lie on different clocks: "
                "record with --use-sim-time when the graph runs on /clock")
    missing = [name for name, count in episode.report.dropped_by_stream.items() if count]
    return f"{episode.report.num_ticks} ticks, incomplete: {', '.join(missing) or 'no ticks in the span'}"
