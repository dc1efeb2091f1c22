# SPDX-License-Identifier: Apache-2.0
"""Export a converted training set as a LeRobot v3.0 dataset (pyarrow + PyAV, no lerobot import).

The layout and field meanings follow LeRobot's own writer (huggingface/lerobot 7427f31,
``src/lerobot/datasets/{utils,dataset_metadata,dataset_writer,video_utils,compute_stats}.py``)::

    meta/info.json                              codebase_version "v3.0", fps, features, totals,
                                                splits, data_path, video_path, chunk settings
    meta/stats.json                             per feature min/max/mean/std/count/q01..q99
    meta/tasks.parquet                          task_index, indexed by task (pandas index "task")
    meta/episodes/chunk-000/file-000.parquet    one row per episode: tasks, length, data/ and
                                                videos/<key>/ locations, stats/<feature>/<stat>
    data/chunk-000/file-000.parquet             one row per frame, one row group per episode
    videos/observation.images.<camera>/chunk-000/file-000.mp4   every episode back to back

Frames: given the robot preset, every episode is read again from the bag it was converted from
and sampled at the cameras' own rate (the dataset's ``fps``) and resolution, as LeRobot records
(one fps per dataset: each frame holds the joint state, the commanded reference and each
camera's latest image at that tick). Without a preset, or when a source bag is gone (sim
demonstrations are written straight into a training set), the training set's own steps and
images are exported at the control rate. The dataset is written into a temporary folder and
moved into place when complete; the SVT-AV1 encoder's banner is silenced (``SVT_LOG``).

Frame features: ``observation.state`` (joint positions), ``action`` (commanded joint reference),
``observation.images.<camera>`` (video), ``timestamp`` (= frame_index / fps), ``frame_index``,
``episode_index``, ``index``, ``task_index``, ``next.reward`` (1 on the last frame of a successful
episode, else 0) and ``next.done`` (True on each episode's last frame). Episodes are ordered train
first, then val, so ``splits`` are the contiguous ranges LeRobot expects. Everything goes into
chunk 0 / file 0 (LeRobot reads files of any size; it only starts new ones while recording).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cosmos_policy_ros.data.aligned_episode import AlignConfig, align_episode
from cosmos_policy_ros.data.atomic_dir import staged
from cosmos_policy_ros.data.bag_reader import read_episode_bag
from cosmos_policy_ros.data.converter import ConvertConfig, bag_topics
from cosmos_policy_ros.data.training_set import read_episode_arrays, read_index
from cosmos_policy_ros.presets import RobotPreset

LOG = logging.getLogger(__name__)

CODEBASE_VERSION = "v3.0"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
CHUNK_FILE_PATTERN = "chunk-{chunk_index:03d}/file-{file_index:03d}"
EPISODES_PATH = "meta/episodes/" + CHUNK_FILE_PATTERN + ".parquet"
DATA_PATH = "data/" + CHUNK_FILE_PATTERN + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE_PATTERN + ".mp4"
CHUNKS_SIZE = 1000  # LeRobot's DEFAULT_CHUNK_SIZE (files per chunk folder)
DATA_FILES_SIZE_IN_MB = 100
VIDEO_FILES_SIZE_IN_MB = 200
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)  # LeRobot's DEFAULT_QUANTILES -> q01 ... q99
IMAGE_STATS_FRAMES = 100  # frames per episode sampled for image statistics (LeRobot samples too)
PIXEL_MAX = 255.0  # image statistics are in [0, 1]
SVT_LOG_ERRORS = "1"  # SVT-AV1's log level (env SVT_LOG): errors only, no per-encoder banner

OBS_STATE = "observation.state"
ACTION = "action"
OBS_IMAGES = "observation.images"
REWARD = "next.reward"
DONE = "next.done"
INDEX_FEATURES = ("frame_index", "episode_index", "index", "task_index")


@dataclass(frozen=True)
class LeRobotExportConfig:
    """Video encoding and metadata of the export (defaults: LeRobot's VideoEncoderConfig).

    Args:
        vcodec: PyAV encoder name (LeRobot default libsvtav1: AV1).
        pix_fmt: pixel format of the video stream.
        gop_frames: keyframe interval ``g`` (2: cheap random access when training).
        crf: constant rate factor (lower = better quality, larger files).
        robot_type: ``robot_type`` of info.json (default: the preset name).
    """

    vcodec: str = "libsvtav1"
    pix_fmt: str = "yuv420p"
    gop_frames: int = 2
    crf: int = 30
    robot_type: str = ""

    def __post_init__(self) -> None:
        if self.vcodec not in av.codecs_available:
            raise ValueError(f"LeRobotExportConfig.vcodec={self.vcodec!r} is not available in PyAV")
        if self.gop_frames < 1:
            raise ValueError(f"LeRobotExportConfig.gop_frames={self.gop_frames} must be >= 1")
        if not 0 <= self.crf <= 63:
            raise ValueError(f"LeRobotExportConfig.crf={self.crf} must be in [0, 63]")


def feature_stats(values: np.ndarray, is_image: bool = False) -> dict[str, np.ndarray]:
    """LeRobot statistics of one feature over its first axis.

    Args:
        values: (N, ...) samples; images as (N, H, W, C) uint8.
        is_image: reduce over frames and pixels per channel, scaled to [0, 1], shape (C, 1, 1).

    Returns:
        min, max, mean, std, q01 ... q99 (shape (D,), (1,) for scalars) and count (1,).
    """
    x = np.asarray(values, dtype=np.float64)
    if is_image:
        x = x.reshape(-1, x.shape[-1]) / PIXEL_MAX  # (N * H * W, C)
    elif x.ndim == 1:
        x = x[:, None]  # (N, 1): LeRobot keeps a length-1 axis for scalar features
    stats = {"min": x.min(0), "max": x.max(0), "mean": x.mean(0), "std": x.std(0)}
    stats.update({f"q{round(q * 100):02d}": np.quantile(x, q, axis=0) for q in QUANTILES})
    if is_image:
        stats = {k: v[:, None, None] for k, v in stats.items()}  # (C, 1, 1)
    stats["count"] = np.array([len(values)], dtype=np.int64)
    return stats


def _vector_type(width: int) -> pa.DataType:
    return pa.list_(pa.float32(), width)  # datasets.Sequence(length=width, Value("float32"))


def build_features(index: dict, image_shape: tuple[int, ...]) -> dict[str, dict]:
    """The ``features`` of info.json (dtype, shape, names) for a training-set index."""
    joints = list(index["joints"])
    features = {
        OBS_STATE: {"dtype": "float32", "shape": [len(joints)], "names": joints},
        ACTION: {"dtype": "float32", "shape": [len(joints)], "names": joints},
    }
    for camera in index["cameras"]:
        features[f"{OBS_IMAGES}.{camera}"] = {"dtype": "video", "shape": list(image_shape),
                                              "names": ["height", "width", "channels"]}
    features["timestamp"] = {"dtype": "float32", "shape": [1], "names": None}
    features.update({name: {"dtype": "int64", "shape": [1], "names": None} for name in INDEX_FEATURES})
    features[REWARD] = {"dtype": "float32", "shape": [1], "names": None}
    features[DONE] = {"dtype": "bool", "shape": [1], "names": None}
    return features


def _data_schema(num_joints: int) -> pa.Schema:
    return pa.schema([(OBS_STATE, _vector_type(num_joints)), (ACTION, _vector_type(num_joints)),
                      ("timestamp", pa.float32()), *[(name, pa.int64()) for name in INDEX_FEATURES],
                      (REWARD, pa.float32()), (DONE, pa.bool_())])


class _VideoStream:
    """One camera's mp4: every episode's frames back to back, frame n at n / fps."""

    def __init__(self, path: Path, fps: int, size: tuple[int, int], config: LeRobotExportConfig) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._container = av.open(str(path), "w")
        options = {"g": str(config.gop_frames), "crf": str(config.crf)}
        self._stream = self._container.add_stream(config.vcodec, fps, options=options)
        self._stream.pix_fmt = config.pix_fmt
        self._stream.height, self._stream.width = self.size = size
        self.num_frames = 0

    def write(self, frames: np.ndarray) -> None:
        """Append (T, H, W, 3) uint8 RGB frames."""
        for frame in frames:
            video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            video_frame.pts = self.num_frames
            for packet in self._stream.encode(video_frame):
                self._container.mux(packet)
            self.num_frames += 1

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()


def video_info(path: Path, config: LeRobotExportConfig) -> dict:
    """The ``info`` of a video feature, probed from the file as LeRobot's get_video_info does."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        info = {"video.height": stream.height, "video.width": stream.width,
                "video.codec": stream.codec.canonical_name, "video.pix_fmt": stream.pix_fmt,
                "video.fps": int(stream.base_rate),
                "video.channels": len(av.VideoFormat(stream.pix_fmt).components),
                "has_audio": bool(container.streams.audio)}
    info.update({"video.g": config.gop_frames, "video.crf": config.crf, "is_depth_map": False})
    return info


def _flat_stats(stats: dict[str, dict[str, np.ndarray]]) -> dict[str, list]:
    return {f"stats/{feature}/{name}": value.tolist()
            for feature, by_name in stats.items() for name, value in by_name.items()}


def _tasks_table(tasks: list[str]) -> pa.Table:
    """meta/tasks.parquet as pandas writes a DataFrame indexed by ``task`` (LeRobot reads it so)."""
    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [{"name": None, "field_name": None, "pandas_type": "unicode",
                            "numpy_type": "object", "metadata": {"encoding": "UTF-8"}}],
        "columns": [{"name": "task_index", "field_name": "task_index", "pandas_type": "int64",
                     "numpy_type": "int64", "metadata": None},
                    {"name": "task", "field_name": "task", "pandas_type": "unicode",
                     "numpy_type": "object", "metadata": None}],
        "creator": {"library": "pyarrow", "version": pa.__version__}, "pandas_version": "2.2.3"}
    table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()),
                      "task": pa.array(tasks, pa.string())})
    return table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})


@dataclass
class _Accumulator:
    """What the export gathers while streaming episodes: episode rows and stats samples."""

    rows: list[dict]
    numeric: dict[str, list[np.ndarray]]
    images: dict[str, list[np.ndarray]]
    frames: int = 0


def _episode_columns(arrays: dict[str, np.ndarray], episode_index: int, first_index: int,
                     task_index: int, success: bool, fps: int) -> dict[str, np.ndarray]:
    """Per-frame numeric columns of one episode (T rows)."""
    length = len(arrays["actions"])
    frame_index = np.arange(length, dtype=np.int64)
    done = frame_index == length - 1
    return {OBS_STATE: arrays["proprio"].astype(np.float32), ACTION: arrays["actions"].astype(np.float32),
            "timestamp": (frame_index / fps).astype(np.float32), "frame_index": frame_index,
            "episode_index": np.full(length, episode_index, np.int64),
            "index": first_index + frame_index, "task_index": np.full(length, task_index, np.int64),
            REWARD: (done & success).astype(np.float32), DONE: done}


def _data_table(columns: dict[str, np.ndarray], schema: pa.Schema) -> pa.Table:
    arrays = []
    for field in schema:
        values = columns[field.name]
        if pa.types.is_fixed_size_list(field.type):
            flat = pa.array(values.reshape(-1))
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, field.type.list_size))
        else:
            arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _image_sample(images: np.ndarray) -> np.ndarray:
    """Evenly spaced frames of one camera, at most IMAGE_STATS_FRAMES."""
    picks = np.unique(np.linspace(0, len(images) - 1, min(len(images), IMAGE_STATS_FRAMES)).astype(int))
    return images[picks]


def _export_episode(arrays: dict[str, np.ndarray], entry: dict, episode_index: int, task_index: int,
                    fps: int, video_keys: list[str], writer: pq.ParquetWriter,
                    videos: dict[str, _VideoStream], acc: _Accumulator) -> None:
    length = len(arrays["actions"])
    columns = _episode_columns(arrays, episode_index, acc.frames, task_index,
                               entry["outcome"] == "success", fps)
    writer.write_table(_data_table(columns, writer.schema))  # one row group per episode
    stats = {name: feature_stats(values) for name, values in columns.items()}
    row = {"episode_index": episode_index, "tasks": [entry["instruction"]], "length": length,
           "data/chunk_index": 0, "data/file_index": 0,
           "dataset_from_index": acc.frames, "dataset_to_index": acc.frames + length}
    for camera, key in enumerate(video_keys):
        start = videos[key].num_frames
        videos[key].write(arrays["images"][:, camera])
        sample = _image_sample(arrays["images"][:, camera])
        stats[key] = feature_stats(sample, is_image=True)
        acc.images[key].append(sample)
        row.update({f"videos/{key}/chunk_index": 0, f"videos/{key}/file_index": 0,
                    f"videos/{key}/from_timestamp": start / fps,
                    f"videos/{key}/to_timestamp": (start + length) / fps})
    row.update(_flat_stats(stats))
    row.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0})
    acc.rows.append(row)
    for name, values in columns.items():
        acc.numeric[name].append(values)
    acc.frames += length


def _ordered_episodes(index: dict) -> tuple[list[dict], dict[str, str]]:
    """Episodes train first, then val, and the LeRobot ``splits`` ranges ("start:end")."""
    ranges: dict[str, str] = {}
    order: list[int] = []
    for name in ("train", "val"):
        chosen = index["splits"][name]
        if chosen:
            ranges[name] = f"{len(order)}:{len(order) + len(chosen)}"
            order += chosen
    return [index["episodes"][i] for i in order], ranges


@contextlib.contextmanager
def _keep_scheduling_policy() -> Iterator[None]:
    """Restore this process's CPU scheduling policy after video encoding.

    The SVT-AV1 encoder (LeRobot's default codec) switches the calling process to SCHED_FIFO
    priority 99 when it may; every process started afterwards inherits that and can starve the
    machine (measured: a whole test run frozen behind busy real-time nodes).
    """
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        yield
    finally:
        if os.sched_getscheduler(0) != policy:
            os.sched_setscheduler(0, policy, param)


@contextlib.contextmanager
def _quiet_encoder() -> Iterator[None]:
    """SVT-AV1 prints ~25 lines per encoder to stderr at its default log level; errors only,
    unless the user set SVT_LOG."""
    previous = os.environ.get("SVT_LOG")
    os.environ.setdefault("SVT_LOG", SVT_LOG_ERRORS)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("SVT_LOG", None)


def export_lerobot(training_set: Path, out: Path, config: LeRobotExportConfig | None = None,
                   preset: RobotPreset | None = None, overwrite: bool = False) -> dict:
    """Write the training set at ``training_set`` as a LeRobot v3.0 dataset at ``out``.

    Args:
        training_set: folder written by ``cosmos-policy convert``.
        out: dataset root; an existing non-empty folder is refused unless ``overwrite``, and is
            replaced only once the new dataset is complete.
        config: video encoding settings.
        preset: the robot preset the set was converted with: episodes are re-read from their
            bags at the cameras' resolution and rate (see the module docstring).
        overwrite: replace what ``out`` holds.

    Returns:
        The info.json content.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty (pass overwrite=True to replace it)")
    with _keep_scheduling_policy(), _quiet_encoder(), staged(out) as stage:
        info = _export(Path(training_set), stage.path, config or LeRobotExportConfig(), preset)
        stage.commit()
    LOG.info("LeRobot v3.0 dataset: %d episodes, %d frames at %d fps -> %s", info["total_episodes"],
             info["total_frames"], info["fps"], out)
    return info


class _BagFrames:
    """Episodes re-read from their source bags at the cameras' own rate and resolution."""

    def __init__(self, preset: RobotPreset) -> None:
        rates = {c.rate_hz for c in preset.cameras}
        rate = rates.pop() if len(rates) == 1 else preset.control_rate_hz
        if rates or rate != round(rate):  # cameras disagree, or LeRobot's integer fps cannot hold it
            LOG.warning("cameras run at %s Hz: exporting at the control rate",
                        sorted({c.rate_hz for c in preset.cameras}))
            rate = preset.control_rate_hz
        self.fps = rate
        self.preset = preset
        convert = ConvertConfig()
        self._topics = bag_topics(preset, convert)
        self._align = AlignConfig(rate, convert.max_skew_s)

    def arrays(self, entry: dict) -> dict[str, np.ndarray]:
        recorded = read_episode_bag(Path(entry["source"]), self._topics, self.preset.joints,
                                    self.preset.joint_units)
        episode = align_episode(recorded, self._align)
        return {"images": episode.images, "proprio": episode.proprio, "actions": episode.actions}


def _export(root: Path, out: Path, config: LeRobotExportConfig, preset: RobotPreset | None) -> dict:
    """Write the dataset into ``out`` (an empty folder); returns info.json's content."""
    index = read_index(root)
    episodes, splits = _ordered_episodes(index)
    from_bags = preset is not None and all(Path(e.get("source", "")).is_dir() for e in episodes)
    if preset is not None and not from_bags:
        LOG.warning("some source bags are gone: exporting the training set's own %s px images",
                    index["image_size"])
    bag_frames = _BagFrames(preset) if from_bags else None
    rate = bag_frames.fps if bag_frames else index["control_rate_hz"]
    fps = int(round(rate))
    if abs(fps - rate) > 1e-9:
        raise ValueError(f"frame rate {rate} Hz is not an integer; LeRobot's fps is")
    tasks = list(dict.fromkeys(e["instruction"] for e in episodes))
    video_keys = [f"{OBS_IMAGES}.{c}" for c in index["cameras"]]
    data_path = out / DATA_PATH.format(chunk_index=0, file_index=0)
    data_path.parent.mkdir(parents=True, exist_ok=True)
    acc = _Accumulator([], {name: [] for name in _data_schema(1).names}, {key: [] for key in video_keys})
    videos: dict[str, _VideoStream] = {}
    with pq.ParquetWriter(data_path, _data_schema(len(index["joints"])), compression="snappy") as writer:
        for episode_index, entry in enumerate(episodes):
            arrays = bag_frames.arrays(entry) if bag_frames else read_episode_arrays(root, entry["file"])
            if not videos:  # the first episode tells the frame size
                height, width = arrays["images"].shape[2:4]
                videos = {key: _VideoStream(out / VIDEO_PATH.format(video_key=key, chunk_index=0, file_index=0),
                                            fps, (height, width), config) for key in video_keys}
            _export_episode(arrays, entry, episode_index, tasks.index(entry["instruction"]), fps,
                            video_keys, writer, videos, acc)
    features = build_features(index, (*next(iter(videos.values())).size, 3) if videos else (0, 0, 3))
    for key, stream in videos.items():
        stream.close()
        features[key]["info"] = video_info(stream.path, config)
    _write_meta(out, acc, tasks, features, splits, fps, config.robot_type or index["preset"])
    return json.loads((out / INFO_PATH).read_text(encoding="utf-8"))


def _write_meta(out: Path, acc: _Accumulator, tasks: list[str], features: dict, splits: dict,
                fps: int, robot_type: str) -> None:
    episodes_path = out / EPISODES_PATH.format(chunk_index=0, file_index=0)
    episodes_path.parent.mkdir(parents=True, exist_ok=True)
    if acc.rows:
        pq.write_table(pa.Table.from_pylist(acc.rows), episodes_path, compression="snappy")
    pq.write_table(_tasks_table(tasks), out / TASKS_PATH)
    stats = {name: feature_stats(np.concatenate(parts)) for name, parts in acc.numeric.items() if parts}
    stats.update({key: feature_stats(np.concatenate(parts), is_image=True)
                  for key, parts in acc.images.items() if parts})
    (out / STATS_PATH).write_text(json.dumps({f: {k: v.tolist() for k, v in s.items()}
                                              for f, s in stats.items()}, indent=4), encoding="utf-8")
    info = {"codebase_version": CODEBASE_VERSION, "robot_type": robot_type,
            "total_episodes": len(acc.rows), "total_frames": acc.frames, "total_tasks": len(tasks),
            "chunks_size": CHUNKS_SIZE, "data_files_size_in_mb": DATA_FILES_SIZE_IN_MB,
            "video_files_size_in_mb": VIDEO_FILES_SIZE_IN_MB, "fps": fps, "splits": splits,
            "data_path": DATA_PATH, "video_path": VIDEO_PATH, "features": features}
    (out / INFO_PATH).write_text(json.dumps(info, indent=4), encoding="utf-8")
