# SPDX-License-Identifier: Apache-2.0
"""Re-render a measured episode for people: the scene of its seed, the arm as it reported itself.

ROS-free. The policy sees 32 px cameras; a GIF of those is unreadable. The demo keeps each
episode's joint states (``/joint_states``, stamped on the sim clock), and this re-poses a second
sim, built with a large viewer camera only, at the GIF's frame times: same task, same seed, so the
same scene. The blocks stay where the reset put them (a touch barely moves them; the twin and
reach tasks end on the touch). Nothing here feeds back into the episode.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cosmos_policy_ros.sim.arm_sim import ArmSim
from cosmos_policy_ros.sim.scene import COMMANDED_JOINTS, SceneFile, build_scene_config
from cosmos_policy_ros.sim.tasks import TaskConfig, make_task

VIEW_CAMERA = "view"  # a fixed camera of the default (oblique) mount, only in the replay sim
VIEW_SIZE_PX = 320


def joint_positions_at(joints: Sequence[tuple[float, dict[str, float]]], times_s: Sequence[float]) -> np.ndarray:
    """(len(times_s), 7) commanded-joint positions: the last report at or before each time (the
    first report before it).

    Raises:
        ValueError: no reports, or a report without every commanded joint.
    """
    if not joints:
        raise ValueError("no joint states to replay")
    stamps = np.array([t for t, _ in joints])
    order = np.argsort(stamps, kind="stable")
    try:
        table = np.array([[joints[i][1][name] for name in COMMANDED_JOINTS] for i in order])
    except KeyError as missing:
        raise ValueError(f"joint state without joint {missing}; need {list(COMMANDED_JOINTS)}") from None
    index = np.searchsorted(stamps[order], np.asarray(times_s, dtype=np.float64), side="right") - 1
    return table[np.clip(index, 0, len(table) - 1)]


class EpisodeRenderer:
    """A viewer sim for one scene file: ``render(task, seed, joints, times)`` -> RGB frames.

    Args:
        scene_file: the scene YAML the episodes ran in (block size, paint; its camera mounts are
            kept for the robot's cameras, which are not rendered).
        size_px: square size of the viewer camera.
    """

    def __init__(self, scene_file: str | Path = "", size_px: int = VIEW_SIZE_PX) -> None:
        scene = SceneFile.from_yaml(scene_file) if scene_file else SceneFile()
        cameras = [(name, 8, 8) for name in scene.camera_mounts] + [(VIEW_CAMERA, size_px, size_px)]
        self.sim = ArmSim(build_scene_config(cameras, scene_file))
        self.task_config = TaskConfig.for_scene(scene_file)

    def render(self, task: str, seed: int, joints: Sequence[tuple[float, dict[str, float]]],
               times_s: Sequence[float]) -> list[np.ndarray]:
        """(size, size, 3) uint8 frames of the scene of ``task``/``seed`` with the arm posed as
        reported at each of ``times_s`` (sim seconds since reset)."""
        episode = make_task(task, self.task_config).reset(self.sim, seed)
        frames = []
        for positions in joint_positions_at(joints, times_s):
            self.sim.reset(positions, episode.initial_poses)
            frames.append(self.sim.render(VIEW_CAMERA))
        return frames
