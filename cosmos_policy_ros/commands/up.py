# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy up <scenario>``: start a scenario's node set as subprocesses, without ros2 launch.

The node set is :func:`cosmos_policy_ros.ros.graph.build_graph`, the same one the launch files
use. Each node runs as ``python -m <module> --ros-args -r __node:=... -r __ns:=... -p ... -r
from:=to`` (its parameters already merged by the graph) in its own process group, with the
environment the launch files set where the user has not (localhost-only DDS; ``sim_demo``:
``MUJOCO_GL=egl``, so the sim arm renders on a PC without a display). SIGINT/SIGTERM are
forwarded to every node; when a node dies on its own, the others are stopped, the report says
which node died and how, and ``up`` exits non-zero.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import yaml

from cosmos_policy_ros.demo.config import DemoConfig
from cosmos_policy_ros.ros.graph import SCENARIOS, GraphArgs, NodeGraph, build_graph
from cosmos_policy_ros.ros.processes import (
    DEFAULT_STOP_TIMEOUT_S, ChildSpec, child_env, describe_exit, graph_children, start_child, stop_children)

HELP = "Start a node set (bringup, sim_demo, record) without ros2 launch."
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_CHILD_FAILED = 1

Report = Callable[[str], None]


def parse_param_overrides(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["command_arbiter.limits.velocity_scale:=0.5"]`` -> ``{"command_arbiter": {...: 0.5}}``."""
    overrides: dict[str, dict[str, Any]] = {}
    for item in items:
        target, sep, text = item.partition(":=")
        node, dot, name = target.partition(".")
        if not sep or not dot or not node or not name:
            raise ValueError(f"-p {item!r} must look like node.parameter:=value")
        overrides.setdefault(node, {})[name] = yaml.safe_load(text)
    return overrides


@dataclass
class Supervisor:
    """Runs children until a stop signal or the first unexpected exit, then stops them all.

    Args:
        children: what to start (names must be unique).
        env: environment of every child.
        report: where one-line status messages go.
        stop_timeout_s: time children get after the stop signal before SIGKILL.
        poll_period_s: how often child exits are checked.
    """

    children: Sequence[ChildSpec]
    env: Mapping[str, str]
    report: Report = print
    stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S
    poll_period_s: float = 0.1
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict, init=False)
    _stop_signal: int | None = field(default=None, init=False)

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stop_signal = signum

    def run(self) -> int:
        """Start, supervise, stop. Returns 0 after a clean user stop, non-zero when a child failed."""
        previous = {sig: signal.signal(sig, self._request_stop) for sig in FORWARDED_SIGNALS}
        try:
            self._start_all()
            died = self._wait_for_stop_or_death()
            self._stop_all(self._stop_signal or signal.SIGINT, exclude=died)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if died is not None:
            self.report(f"[up] {died} {describe_exit(self._procs[died].returncode)}; stopped the other nodes")
            return EXIT_CHILD_FAILED
        failed = {name: p.returncode for name, p in self._procs.items()
                  if p.returncode not in (0, -self._stop_signal)}
        for name, code in failed.items():
            self.report(f"[up] {name} {describe_exit(code)} while stopping")
        return EXIT_CHILD_FAILED if failed else 0

    def _start_all(self) -> None:
        for child in self.children:
            proc = start_child(child.argv, self.env)
            self._procs[child.name] = proc
            self.report(f"[up] started {child.name:<16} pid {proc.pid:<7} {' '.join(child.argv[1:4])}")

    def _wait_for_stop_or_death(self) -> str | None:
        """Name of the first child that exited on its own, or None when a stop was requested."""
        while self._stop_signal is None:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    return name
            time.sleep(self.poll_period_s)
        self.report(f"[up] {signal.Signals(self._stop_signal).name}: stopping {len(self._procs)} nodes")
        return None

    def _stop_all(self, signum: int, exclude: str | None) -> None:
        others = {name: proc for name, proc in self._procs.items() if name != exclude}
        for name, stopped in stop_children(others, signum, self.stop_timeout_s).items():
            if stopped.killed:
                self.report(f"[up] {name} did not stop within {self.stop_timeout_s} s: SIGKILL")


def graph_from_args(args: argparse.Namespace) -> NodeGraph:
    """The node set the options of ``add_arguments`` choose (``sim_demo`` without ``--robot``: the
    shipped demo's, as ``sim_demo.launch.py`` runs it)."""
    defaults = DemoConfig.from_yaml().scenario_defaults() if args.scenario == "sim_demo" else None
    return build_graph(args.scenario, GraphArgs(
        robot=args.robot, checkpoint=args.checkpoint, planning_checkpoint=args.planning_checkpoint,
        instruction=args.instruction, device=args.device, dtype=args.dtype,
        autostart=not args.no_autostart, namespace=args.namespace,
        use_sim_time=args.use_sim_time, with_expert=not args.no_expert, params_file=args.params_file,
        extra_params=parse_param_overrides(args.param)), defaults)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", choices=SCENARIOS, help="Which node set to start.")
    parser.add_argument("--robot", default="", help="Robot preset name (sim_arm, fr3, ur, aloha) or YAML "
                        "path; default sim_arm (sim_demo: the shipped demo's sim arm).")
    parser.add_argument("--checkpoint", default="", help="Policy checkpoint folder for policy_node "
                        "(sim_demo default: the shipped demo checkpoint).")
    parser.add_argument("--planning-checkpoint", default="", help="Checkpoint that scores plan-and-select "
                        "candidates.")
    parser.add_argument("--instruction", default="", help="Task instruction of policy_node.")
    parser.add_argument("--device", default="", help="Torch device of policy_node (cpu, cuda, cuda:1).")
    parser.add_argument("--dtype", default="", help="Transformer dtype of policy_node.")
    parser.add_argument("--no-autostart", action="store_true", help="Leave policy_node unconfigured "
                        "(a lifecycle manager configures it).")
    parser.add_argument("--namespace", default="", help="ROS namespace of every node.")
    parser.add_argument("--use-sim-time", action="store_true", default=None,
                        help="Every node follows /clock (default: only the sim_demo demo).")
    parser.add_argument("--no-expert", action="store_true", help="sim_demo without the scripted expert.")
    parser.add_argument("--params-file", default="", help="ROS parameter YAML for every node (wins over the "
                        "shipped config/*.yaml, loses to the options above).")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NODE.PARAM:=VALUE",
                        help="Parameter override for one node (value parsed as YAML); repeatable.")
    parser.add_argument("--print-config", action="store_true",
                        help="Print the node set and the commands as YAML, start nothing.")
    parser.add_argument("--stop-timeout-s", type=float, default=DEFAULT_STOP_TIMEOUT_S,
                        help="Seconds nodes get to exit after the stop signal before SIGKILL.")


def run(args: argparse.Namespace) -> int:
    try:
        graph = graph_from_args(args)
    except ValueError as err:
        print(f"cosmos-policy up: {err}", file=sys.stderr)
        return 2
    children = graph_children(graph)
    if args.print_config:
        config = {**graph.to_dict(), "commands": {c.name: list(c.argv) for c in children}}
        print(yaml.safe_dump(config, sort_keys=False), end="")
        return 0
    env = child_env(scenario=graph.scenario)
    for name in sorted(set(env) - set(os.environ)):
        print(f"[up] {name} unset: using {env[name]}")
    return Supervisor(children, env, stop_timeout_s=args.stop_timeout_s).run()
