# SPDX-License-Identifier: Apache-2.0
"""Simulation speed of the embedded robot: real-time factor and render fps per camera.

Runs scripted-expert pick_place episodes through the same control loop the sim node runs
(trajectory follower + PD drives, 2 ms physics), first without rendering, then rendering every
camera at the preset's rate. Prints the hardware, the numbers per camera, and last the
machine-readable ``sim_rate realtime_factor=<x> render_fps=<y>`` (x: with cameras at the preset
rate, y: mean over cameras). ``--save-views PATH`` also writes both camera views side by side.
Usage: MUJOCO_GL=egl python bench/sim_rate.py [--episodes 3] [--save-views docs/camera_views.png]
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from cosmos_policy_ros.presets import load_preset
from cosmos_policy_ros.sim.arm_sim import ArmSim
from cosmos_policy_ros.sim.expert import ScriptedExpert
from cosmos_policy_ros.sim.kinematics import ArmKinematics
from cosmos_policy_ros.sim.rollout import run_expert_episode
from cosmos_policy_ros.sim.scene import build_scene_config
from cosmos_policy_ros.sim.tasks import make_task

RENDER_REPEATS = 30
VIEWS_SEED = 3


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def _physics_rate(sim: ArmSim, episodes: int) -> tuple[float, float]:
    """(sim seconds, wall seconds) of expert pick_place episodes without rendering."""
    task, expert = make_task("pick_place"), ScriptedExpert("pick_place", ArmKinematics())
    sim_s, start = 0.0, time.perf_counter()
    for seed in range(episodes):
        sim_s += run_expert_episode(sim, task, expert, seed).duration_s
    return sim_s, time.perf_counter() - start


def _render_fps(sim: ArmSim, camera: str) -> float:
    sim.render(camera)  # context creation is not part of the rate
    start = time.perf_counter()
    for _ in range(RENDER_REPEATS):
        sim.step(sim.timestep_s)
        sim.render(camera)
    return RENDER_REPEATS / (time.perf_counter() - start)


def save_views(sim: ArmSim, path: Path) -> None:
    """Both camera views of a pick_place scene, side by side, as PNG."""
    from PIL import Image

    make_task("pick_place").reset(sim, VIEWS_SEED)
    views = [sim.render(camera.name) for camera in sim.config.cameras]
    Image.fromarray(np.concatenate(views, axis=1)).save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--save-views", type=Path, default=None)
    args = parser.parse_args()
    preset = load_preset("sim_arm")
    sim = ArmSim(build_scene_config([(c.name, c.height, c.width) for c in preset.cameras]))
    print(f"hardware: {_cpu_name()}, {os.cpu_count()} cpus, MUJOCO_GL={os.environ.get('MUJOCO_GL', '')}, "
          f"python {platform.python_version()}")
    sim_s, wall_s = _physics_rate(sim, args.episodes)
    print(f"physics + control loop (no rendering): {sim_s:.1f} sim s in {wall_s:.2f} s "
          f"= {sim_s / wall_s:.1f}x real time")
    render_s_per_sim_s = 0.0
    fps = {}
    for camera in preset.cameras:
        fps[camera.name] = _render_fps(sim, camera.name)
        render_s_per_sim_s += camera.rate_hz / fps[camera.name]
        print(f"camera {camera.name}: {camera.width}x{camera.height} at {fps[camera.name]:.1f} fps "
              f"(preset rate {camera.rate_hz:g} Hz)")
    realtime_factor = 1.0 / (wall_s / sim_s + render_s_per_sim_s)
    print(f"with every camera at its preset rate: {realtime_factor:.2f}x real time")
    if args.save_views is not None:
        save_views(sim, args.save_views)
        print(f"camera views written to {args.save_views}")
    sim.close()
    print(f"sim_rate realtime_factor={realtime_factor:.2f} render_fps={np.mean(list(fps.values())):.1f}")


if __name__ == "__main__":
    main()
