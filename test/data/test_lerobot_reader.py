# SPDX-License-Identifier: Apache-2.0
"""The LeRobot export read back by LeRobot's own ``LeRobotDataset`` (in a separate environment
where lerobot is installed without CUDA: COSMOS_LEROBOT_PYTHON names its python; see
lerobot_reader_check.py for what that environment cannot hold and how the check stands in)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from cosmos_policy_ros.cli import main
from cosmos_policy_ros.data.synthetic_bag import SyntheticEpisode, write_synthetic_episode
from cosmos_policy_ros.presets import CONFIG_DIR, load_preset

LEROBOT_PYTHON = os.environ.get("COSMOS_LEROBOT_PYTHON", "")
CHECK = Path(__file__).with_name("lerobot_reader_check.py")
ROBOT = CONFIG_DIR / "demo" / "sim_arm_32.yaml"  # cameras publish 32 px, the set stores 16
CAMERA_SIZE = 32


@pytest.mark.skipif(not LEROBOT_PYTHON, reason="COSMOS_LEROBOT_PYTHON (a python with lerobot) is not set")
def test_lerobot_dataset_reads_the_export(tmp_path):
    preset = load_preset(ROBOT)
    assert preset.cameras[0].frame_size == (CAMERA_SIZE, CAMERA_SIZE)
    for i, task in enumerate(("pick up the cube", "stack the blocks")):
        write_synthetic_episode(tmp_path / "bags" / f"ep{i}", preset,
                                SyntheticEpisode(duration_s=1.0, instruction=task))
    assert main(["convert", str(tmp_path / "bags"), str(tmp_path / "set"), "--robot", str(ROBOT), "--image-size", "16",
                 "--val-fraction", "0", "--lerobot", str(tmp_path / "lerobot")]) == 0
    done = subprocess.run([LEROBOT_PYTHON, str(CHECK), str(tmp_path / "lerobot")], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    read = json.loads(done.stdout.strip().splitlines()[-1])
    info = json.loads((tmp_path / "lerobot/meta/info.json").read_text())
    table = pq.read_table(tmp_path / "lerobot/data/chunk-000/file-000.parquet").to_pydict()
    assert (read["num_frames"], read["num_episodes"], read["fps"]) == (info["total_frames"], 2, info["fps"])
    assert read["image_shapes"] == {f"observation.images.{c.name}": [3, CAMERA_SIZE, CAMERA_SIZE]
                                    for c in preset.cameras}
    assert read["episode_index"] == table["episode_index"]
    assert read["tasks"] == [("pick up the cube", "stack the blocks")[e] for e in table["episode_index"]]
    np.testing.assert_allclose(read["state"], table["observation.state"], rtol=1e-6)
    assert all(0.0 <= m <= 1.0 for m in read["first_frame_mean"].values())  # LeRobot's float [0, 1]
