# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy record``: run recorder_node (one MCAP bag per episode) in this process."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Record the preset's topics to rosbag2 MCAP, one bag per episode."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--robot", default="sim_arm", help="robot preset name or YAML path")
    parser.add_argument("--out", type=Path, default=Path("bags"), help="folder for the episode bags")
    parser.add_argument("--start", metavar="TASK", default=None,
                        help="start an episode right away with this task text (else wait for "
                             "~/start_episode)")
    parser.add_argument("--params-file", type=Path, default=None, help="recorder YAML parameters")


def ros_arguments(args: argparse.Namespace) -> list[str]:
    """The --ros-args the recorder node is started with."""
    ros_args = ["--ros-args", "-p", f"robot:={args.robot}", "-p", f"output_dir:={args.out}"]
    if args.params_file:
        ros_args += ["--params-file", str(args.params_file)]
    if args.start is not None:
        ros_args += ["-p", "autostart_episode:=true", "-p", f"autostart_task:={args.start}"]
    return ros_args


def run(args: argparse.Namespace) -> int:
    from ..ros.recorder_node import main
    main(["cosmos-policy-record", *ros_arguments(args)])
    return 0
