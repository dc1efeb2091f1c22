# SPDX-License-Identifier: Apache-2.0
"""Run in an environment where lerobot is installed: load an exported dataset with LeRobot's own
``LeRobotDataset`` and print what it reads, as JSON (test_lerobot_reader.py compares it).

Two things cannot exist in a CPU-only environment and are replaced here, each for the one call
that needs it:

* torchvision from PyPI is the CUDA build; beside the CPU torch its C ops do not load, and its
  ``_meta_registrations`` then registers fake kernels for ``torchvision::nms`` / ``qnms``, ops it
  never defined (torchvision 0.28). Defining their schemas lets ``import torchvision`` finish;
  the dataset reader never calls them.
* LeRobot decodes video with torchcodec (CUDA-linked on PyPI) or ``torchvision.io.VideoReader``
  (removed in torchvision 0.26). ``decode_video_frames`` is replaced by PyAV decoding that keeps
  LeRobot's contract (frames nearest each timestamp, an error beyond ``tolerance_s``, float
  (N, C, H, W) in [0, 1]); everything else (metadata, parquet, features, timestamps, episode
  boundaries, tasks) is LeRobot's own code.
"""
from __future__ import annotations

import json
import sys

import av
import numpy as np
import torch

for op in ("nms", "qnms"):
    torch.library.define(f"torchvision::{op}", "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")

import lerobot  # noqa: E402
from lerobot.datasets import lerobot_dataset  # noqa: E402
from lerobot.datasets.lerobot_dataset import LeRobotDataset  # noqa: E402


def decode_with_pyav(video_path, timestamps: list[float], tolerance_s: float, backend=None) -> torch.Tensor:
    with av.open(str(video_path)) as container:
        stream = container.streams.video[0]
        frames = [(float(f.pts * stream.time_base), f.to_ndarray(format="rgb24")) for f in container.decode(stream)]
    times = np.array([t for t, _ in frames])
    picked = []
    for ts in timestamps:
        nearest = int(np.argmin(np.abs(times - ts)))
        if abs(times[nearest] - ts) > tolerance_s:
            raise AssertionError(f"no frame within {tolerance_s} s of {ts} in {video_path}")
        picked.append(torch.from_numpy(frames[nearest][1]).permute(2, 0, 1).float() / 255.0)
    return torch.stack(picked)


lerobot_dataset.decode_video_frames = decode_with_pyav

dataset = LeRobotDataset("local/cosmos_export", root=sys.argv[1])
items = [dataset[i] for i in range(len(dataset))]
print(json.dumps({
    "lerobot_version": lerobot.__version__, "num_frames": len(dataset), "num_episodes": dataset.num_episodes,
    "fps": dataset.fps, "video_keys": dataset.meta.video_keys,
    "image_shapes": {k: list(items[0][k].shape) for k in dataset.meta.video_keys},
    "episode_index": [int(x["episode_index"]) for x in items], "tasks": [x["task"] for x in items],
    "state": [x["observation.state"].tolist() for x in items],
    "first_frame_mean": {k: float(items[0][k].mean()) for k in dataset.meta.video_keys},
}))
