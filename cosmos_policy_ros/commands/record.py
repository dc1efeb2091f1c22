# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy record``: run recorder_node (one MCAP bag per episode) in this process.

Every recorder parameter is an option here (``-p name:=value`` for any of them, ``--params-file``
for a YAML); the common ones have their own flags. ``--use-sim-time`` is needed whenever the
graph runs on ``/clock`` (the sim with ``up --use-sim-time``): the recorder's clock must match
the message stamps, or the episodes' START/END events and the sensors lie on different clocks.
"""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Record the preset's topics to rosbag2 MCAP, one bag per episode."
# flag -> recorder parameter, for the options that are plain parameters
PARAMETER_FLAGS = {"robot": "robot", "out": "output_dir", "num_episodes": "num_episodes",
                   "max_episode_s": "max_episode_s", "reset_period_s": "reset_period_s",
                   "timeout_outcome": "timeout_outcome"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--robot", default=None, help="robot preset name or YAML path (default sim_arm)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the episode bags (default bags/)")
    parser.add_argument("--start", metavar="TASK", default=None,
                        help="start an episode right away with this task text (else wait for "
                             "`cosmos-policy episode start`)")
    parser.add_argument("--num-episodes", type=int, default=None,
                        help="record this many episodes back to back, then stop recording")
    parser.add_argument("--max-episode-s", type=float, default=None,
                        help="end an episode after this long (outcome: --timeout-outcome)")
    parser.add_argument("--timeout-outcome", choices=("failure", "success", "unknown"), default=None,
                        help="outcome of an episode that reached --max-episode-s (default failure)")
    parser.add_argument("--reset-period-s", type=float, default=None,
                        help="pause between automatic episodes to reset the scene")
    parser.add_argument("--use-sim-time", action="store_true", help="follow /clock (sim-time graphs)")
    parser.add_argument("--params-file", type=Path, default=None, help="recorder YAML parameters")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="any recorder parameter (see `ros2 param describe`); repeatable")


def ros_arguments(args: argparse.Namespace) -> list[str]:
    """The --ros-args the recorder node is started with (flags after the params file win)."""
    ros_args = ["--ros-args"]
    if args.params_file:
        ros_args += ["--params-file", str(args.params_file)]
    for flag, parameter in PARAMETER_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            ros_args += ["-p", f"{parameter}:={value}"]
    if args.use_sim_time:
        ros_args += ["-p", "use_sim_time:=true"]
    if args.start is not None:
        ros_args += ["-p", "autostart_episode:=true", "-p", f"autostart_task:={args.start}"]
    for item in args.param:
        if ":=" not in item:
            raise SystemExit(f"cosmos-policy record: -p {item!r} must look like name:=value")
        ros_args += ["-p", item]
    return ros_args


def run(args: argparse.Namespace) -> int:
    from cosmos_policy_ros.ros.recorder_node import main
    main(["cosmos-policy-record", *ros_arguments(args)])
    return 0
