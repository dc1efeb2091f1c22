# SPDX-License-Identifier: Apache-2.0
"""Conversion speed vs real time: synthetic sim_arm episode bags -> training set.

Each episode has the sim_arm streams at their real rates (2 cameras 224x224 rgb8 at 15 Hz,
joint states at 50 Hz, commands at 10 Hz). Prints one line per stored image size, the hardware,
and last the machine-readable ``convert realtime_factor=<x>`` for the model's image size (224).
Usage: python bench/convert.py [--episodes 3] [--duration-s 10]
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from cosmos_policy_ros.data.converter import ConvertConfig, convert_bags
from cosmos_policy_ros.data.synthetic_bag import SyntheticEpisode, write_synthetic_episode
from cosmos_policy_ros.presets import load_preset

IMAGE_SIZES = (64, 224)  # last one is the headline number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--duration-s", type=float, default=10.0)
    args = parser.parse_args()
    preset = load_preset("sim_arm")
    print(f"hardware: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        spec = SyntheticEpisode(duration_s=args.duration_s, image_size=preset.cameras[0].height)
        bags = [write_synthetic_episode(root / f"ep{i}", preset, spec) for i in range(args.episodes)]
        recorded_s = args.episodes * args.duration_s
        factor = 0.0
        for size in IMAGE_SIZES:
            start = time.perf_counter()
            report = convert_bags(bags, root / f"out{size}", preset, ConvertConfig(image_size=size))
            elapsed = time.perf_counter() - start
            factor = recorded_s / elapsed
            steps = sum(e.length for e in report.converted)
            print(f"image_size={size}: {recorded_s:.0f} s recorded ({steps} steps) converted in "
                  f"{elapsed:.2f} s -> {factor:.1f}x real time")
    print(f"convert realtime_factor={factor:.2f}")


if __name__ == "__main__":
    main()
