# SPDX-License-Identifier: Apache-2.0
"""LeRobot v3.0 export: written with pyarrow + PyAV, read back with pyarrow + PyAV."""
import json
import os

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cosmos_policy_ros.data.lerobot_export import (LeRobotExportConfig, export_lerobot,
                                                    feature_stats)
from cosmos_policy_ros.data.training_set import write_episode_arrays, write_index

JOINTS = [f"joint_{j}" for j in range(7)]
CAMERAS = ["wrist", "primary"]
SIZE = 32
FPS = 10
# (length, outcome, instruction); splits put episode 1 in val, so the export order is 0, 2, 1
EPISODES = [(12, "success", "stack"), (7, "failure", "reach"), (20, "success", "stack")]
SPLITS = {"train": [0, 2], "val": [1]}
EXPORT_ORDER = [0, 2, 1]
VIDEO_MAE_BOUND = 8.0  # mean abs error [0-255 levels] of AV1 crf 30 on these textures


def _frames(episode: int, length: int, camera: int) -> np.ndarray:
    """(T, S, S, 3) smooth textures that move every frame (misaligned frames differ a lot)."""
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    t = np.arange(length)[:, None, None]
    phase = 0.35 * t + episode + 2 * camera
    red = 128 + 100 * np.sin(x / 4.0 + phase)
    green = 128 + 100 * np.cos(y / 5.0 - phase)
    blue = np.broadcast_to((x + y) * 4.0 + 10 * camera, red.shape)
    return np.stack([red, green, blue], axis=-1).clip(0, 255).astype(np.uint8)


def _arrays(episode: int, length: int) -> dict[str, np.ndarray]:
    steps = np.arange(length, dtype=np.float32)[:, None]
    return {"images": np.stack([_frames(episode, length, c) for c in range(len(CAMERAS))], axis=1),
            "proprio": (steps * 0.01 + np.arange(len(JOINTS)) + episode).astype(np.float32),
            "actions": (steps * 0.02 - np.arange(len(JOINTS)) - episode).astype(np.float32),
            "returns": np.zeros(length, np.float32), "modes": np.zeros(length, np.uint8),
            "timestamps_ns": (np.arange(length) * 100_000_000).astype(np.int64)}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("lerobot")
    entries, sources = [], []
    for i, (length, outcome, instruction) in enumerate(EPISODES):
        sources.append(_arrays(i, length))
        entries.append({"file": write_episode_arrays(root / "set", i, sources[-1]), "length": length,
                        "outcome": outcome, "instruction": instruction, "episode_id": f"ep{i}"})
    write_index(root / "set", {"preset": "sim_arm", "joints": JOINTS, "cameras": CAMERAS,
                               "image_size": SIZE, "control_rate_hz": float(FPS), "chunk_length": 4,
                               "gamma": 0.99, "episodes": entries, "splits": SPLITS})
    info = export_lerobot(root / "set", root / "lerobot")
    return root / "lerobot", info, [sources[i] for i in EXPORT_ORDER], [EPISODES[i] for i in EXPORT_ORDER]


def test_info_json_describes_the_dataset(exported):
    out, info, _, _ = exported
    assert json.loads((out / "meta/info.json").read_text()) == info
    total = sum(e[0] for e in EPISODES)
    assert info["codebase_version"] == "v3.0" and info["fps"] == FPS and info["robot_type"] == "sim_arm"
    assert (info["total_episodes"], info["total_frames"], info["total_tasks"]) == (3, total, 2)
    assert info["splits"] == {"train": "0:2", "val": "2:3"}
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    features = info["features"]
    assert features["observation.state"] == {"dtype": "float32", "shape": [7], "names": JOINTS}
    assert features["action"]["names"] == JOINTS
    for key in ("timestamp", "frame_index", "episode_index", "index", "task_index", "next.reward"):
        assert features[key]["shape"] == [1] and features[key]["names"] is None
    video = features["observation.images.wrist"]
    assert video["dtype"] == "video" and video["shape"] == [SIZE, SIZE, 3]
    assert video["names"] == ["height", "width", "channels"]
    assert video["info"]["video.codec"] == "av1" and video["info"]["video.fps"] == FPS
    assert video["info"]["video.pix_fmt"] == "yuv420p" and video["info"]["has_audio"] is False


def test_frames_parquet_has_lerobot_columns_and_episode_boundaries(exported):
    out, _, sources, episodes = exported
    table = pq.read_table(out / "data/chunk-000/file-000.parquet")
    assert table.schema.field("observation.state").type == pa.list_(pa.float32(), 7)
    assert table.schema.field("index").type == pa.int64()
    assert table.schema.field("next.done").type == pa.bool_()
    assert pq.ParquetFile(out / "data/chunk-000/file-000.parquet").num_row_groups == len(EPISODES)
    lengths = [e[0] for e in episodes]
    names = ("episode_index", "frame_index", "index", "timestamp", "task_index", "next.reward", "next.done")
    column = {name: table.column(name).to_numpy() for name in names}
    np.testing.assert_array_equal(column["index"], np.arange(sum(lengths)))
    np.testing.assert_array_equal(column["episode_index"], np.repeat(np.arange(3), lengths))
    np.testing.assert_array_equal(column["frame_index"], np.concatenate([np.arange(n) for n in lengths]))
    np.testing.assert_array_equal(column["timestamp"], (column["frame_index"] / FPS).astype(np.float32))
    np.testing.assert_array_equal(column["task_index"], np.repeat([0, 0, 1], lengths))  # stack, stack, reach
    ends = np.cumsum(lengths) - 1
    assert np.flatnonzero(column["next.done"]).tolist() == ends.tolist()
    assert np.flatnonzero(column["next.reward"]).tolist() == ends[:2].tolist()  # the two successes
    state = np.stack(table.column("observation.state").to_numpy(zero_copy_only=False))
    action = np.stack(table.column("action").to_numpy(zero_copy_only=False))
    np.testing.assert_array_equal(state, np.concatenate([s["proprio"] for s in sources]))
    np.testing.assert_array_equal(action, np.concatenate([s["actions"] for s in sources]))


def test_episode_task_and_stats_metadata(exported):
    out, _, sources, episodes = exported
    meta = pq.read_table(out / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    lengths = [e[0] for e in episodes]
    starts = np.concatenate([[0], np.cumsum(lengths)])
    for i, row in enumerate(meta):
        assert row["episode_index"] == i and row["length"] == lengths[i]
        assert row["tasks"] == [episodes[i][2]]
        assert (row["dataset_from_index"], row["dataset_to_index"]) == (starts[i], starts[i + 1])
        assert row["videos/observation.images.primary/from_timestamp"] == pytest.approx(starts[i] / FPS)
        assert row["videos/observation.images.primary/to_timestamp"] == pytest.approx(starts[i + 1] / FPS)
        assert row["stats/action/max"] == pytest.approx(sources[i]["actions"].max(0).tolist())
        assert row["data/chunk_index"] == 0 and row["meta/episodes/file_index"] == 0
    tasks = pq.read_table(out / "meta/tasks.parquet")
    assert tasks.column("task").to_pylist() == ["stack", "reach"]
    assert tasks.column("task_index").to_pylist() == [0, 1]
    assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["task"]
    stats = json.loads((out / "meta/stats.json").read_text())
    all_actions = np.concatenate([s["actions"] for s in sources])
    assert stats["action"]["min"] == pytest.approx(all_actions.min(0).tolist())
    assert stats["action"]["count"] == [len(all_actions)]
    assert np.asarray(stats["observation.images.wrist"]["mean"]).shape == (3, 1, 1)
    assert set(stats["frame_index"]) == {"min", "max", "mean", "std", "count", "q01", "q10", "q50",
                                         "q90", "q99"}


def test_decoded_video_frames_approximate_the_source_images(exported):
    out, _, sources, _ = exported
    for camera, name in enumerate(CAMERAS):
        with av.open(str(out / f"videos/observation.images.{name}/chunk-000/file-000.mp4")) as container:
            stream = container.streams.video[0]
            assert int(stream.base_rate) == FPS
            decoded = {round(float(f.pts * stream.time_base) * FPS): f.to_ndarray(format="rgb24")
                       for f in container.decode(stream)}
        source = np.concatenate([s["images"][:, camera] for s in sources])
        assert sorted(decoded) == list(range(len(source)))  # frame n is at n / fps
        video = np.stack([decoded[n] for n in range(len(source))]).astype(float)
        assert np.abs(video - source).mean() < VIDEO_MAE_BOUND
        shifted = np.abs(video[1:] - source[:-1]).mean()  # a one-frame misalignment would show
        assert shifted > 2 * np.abs(video - source).mean()


def test_feature_stats_shapes_follow_lerobot():
    scalar = feature_stats(np.arange(10))
    assert scalar["mean"].shape == (1,) and scalar["count"].tolist() == [10]
    images = feature_stats(np.full((4, 2, 2, 3), 255, np.uint8), is_image=True)
    assert images["max"].shape == (3, 1, 1) and images["max"].max() == 1.0


def test_export_refuses_non_integer_fps_and_existing_dataset(exported, tmp_path):
    out, *_ = exported
    with pytest.raises(FileExistsError):
        export_lerobot(out.parent / "set", out)
    index = json.loads((out.parent / "set/index.json").read_text())
    write_index(tmp_path, {**{k: v for k, v in index.items() if k not in ("format", "version")},
                           "control_rate_hz": 7.5})
    with pytest.raises(ValueError, match="7.5 Hz is not an integer"):
        export_lerobot(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.tmp-*"))  # nothing half-written
    with pytest.raises(ValueError, match="gop_frames"):
        LeRobotExportConfig(gop_frames=0)


def test_convert_command_exports_lerobot(tmp_path, capfd):
    """At the cameras' resolution and rate (not the training set's), quietly, and an existing
    dataset folder is refused before anything is written, or replaced with --overwrite."""
    from cosmos_policy_ros.cli import main
    from cosmos_policy_ros.data.synthetic_bag import SyntheticEpisode, write_synthetic_episode
    from cosmos_policy_ros.presets import CONFIG_DIR, load_preset
    robot = CONFIG_DIR / "demo" / "sim_arm_32.yaml"  # cameras publish 32 px, the set stores 16
    preset = load_preset(robot)
    camera_size, camera_rate = preset.cameras[0].height, preset.cameras[0].rate_hz
    for i in range(2):
        write_synthetic_episode(tmp_path / "bags" / f"ep{i}", preset, SyntheticEpisode(duration_s=1.0))
    command = ["convert", str(tmp_path / "bags"), str(tmp_path / "set"), "--robot", str(robot), "--image-size", "16",
               "--val-fraction", "0.5", "--lerobot", str(tmp_path / "lerobot")]
    assert main(command) == 0
    out, err = capfd.readouterr()
    assert "LeRobot v3.0 dataset written" in out and "Svt[" not in err
    info = json.loads((tmp_path / "lerobot/meta/info.json").read_text())
    frames = 2 * (1.0 * camera_rate + 1)  # inclusive span per episode, at the camera rate
    assert (info["total_episodes"], info["total_frames"], info["fps"]) == (2, frames, camera_rate)
    assert info["features"]["observation.images.wrist"]["shape"] == [camera_size, camera_size, 3]
    assert info["splits"] == {"train": "0:1", "val": "1:2"}
    assert pq.read_table(tmp_path / "lerobot/data/chunk-000/file-000.parquet").num_rows == frames
    set_index = (tmp_path / "set/index.json").stat().st_mtime_ns
    with pytest.raises(SystemExit, match="exists and is not empty; nothing was written"):
        main(command)
    assert (tmp_path / "set/index.json").stat().st_mtime_ns == set_index
    assert main([*command, "--overwrite"]) == 0


def test_export_leaves_the_process_scheduling_policy_unchanged(exported):
    """SVT-AV1 would leave the process at SCHED_FIFO 99, and every child would inherit it."""
    assert os.sched_getscheduler(0) == os.SCHED_OTHER
