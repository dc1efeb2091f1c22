# SPDX-License-Identifier: Apache-2.0
"""The demo's node set as child processes, built from the shared node-set description.

The nodes are those of ``ros/graph.py`` (scenario ``sim_demo``: sim_arm, expert_teleop,
policy_node, command_arbiter) plus the ``record`` scenario's recorder and, for data collection,
a second scripted expert with perturbations. Each runs as ``cosmos-policy up`` would start it
(:mod:`cosmos_policy_ros.ros.processes`, shared with ``up`` and the tests), in its own process
group, with its output in a log file; stopping sends SIGINT to each child and SIGKILL after a
grace period.
"""
from __future__ import annotations

import dataclasses
import logging
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cosmos_policy_ros.ros.graph import EXPERT, RECORDER, GraphArgs, NodeGraph, NodeKind, NodeSpec, build_graph
from cosmos_policy_ros.ros.processes import (
    DEFAULT_STOP_TIMEOUT_S, child_env, describe_exit, graph_children, start_child, stop_children)

LOG = logging.getLogger(__name__)
NOISY_EXPERT = NodeKind("expert_noisy", EXPERT.executable, EXPERT.module)


@dataclass(frozen=True)
class GraphOptions:
    """Which nodes the demo starts, with which settings.

    Args:
        preset: robot preset YAML path (the demo's 32 px sim arm).
        checkpoint: policy checkpoint folder; empty = no policy_node (teleop data collection).
        record_dir: recorder output folder; empty = no recorder.
        with_noisy_expert: also start the perturbed expert (``expert_noisy``, disabled at start).
        params: ``{node name: {parameter: value}}`` for the nodes (sim pacing, planning, noise).
    """

    preset: str
    checkpoint: str = ""
    record_dir: str = ""
    with_noisy_expert: bool = False
    params: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)


def demo_graph(options: GraphOptions) -> NodeGraph:
    """The shared ``sim_demo`` description (+ recorder, + noisy expert, - policy when no checkpoint)."""
    node_params = {name: dict(values) for name, values in options.params.items()}
    noisy_params = node_params.pop(NOISY_EXPERT.name, {})
    args = GraphArgs(robot=options.preset, checkpoint=options.checkpoint, use_sim_time=True,
                     extra_params={k: v for k, v in node_params.items() if k != RECORDER.name})
    graph = build_graph("sim_demo", args)
    nodes = [n for n in graph.nodes if options.checkpoint or n.name != "policy_node"]
    if options.with_noisy_expert:
        expert = graph.node(EXPERT.name)
        nodes.append(NodeSpec(NOISY_EXPERT, {**expert.parameters, "enabled": False, **noisy_params},
                              expert.remappings))
    if options.record_dir:
        record_args = dataclasses.replace(args, extra_params={RECORDER.name: {
            "output_dir": options.record_dir, **node_params.get(RECORDER.name, {})}})
        nodes.append(build_graph("record", record_args).node(RECORDER.name))
    return dataclasses.replace(graph, nodes=tuple(nodes))


class NodeProcesses:
    """Start every node of ``graph`` as a child process; ``stop`` ends exactly those children.

    Args:
        graph: the node set.
        log_dir: one ``<node>.log`` per child.
        env: environment of the children (ROS domain, DDS settings); default: ours.
        stop_timeout_s: grace period after SIGINT before SIGKILL.
    """

    def __init__(self, graph: NodeGraph, log_dir: Path, env: Mapping[str, str] | None = None,
                 stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> None:
        self.graph, self.log_dir, self.stop_timeout_s = graph, Path(log_dir), stop_timeout_s
        self.env = child_env(env, scenario=graph.scenario)  # as `up` and the launch files set it
        self._procs: dict[str, subprocess.Popen] = {}

    def __enter__(self) -> "NodeProcesses":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for child in graph_children(self.graph):
            with open(self.log_dir / f"{child.name}.log", "wb") as log:
                self._procs[child.name] = start_child(child.argv, self.env, stdout=log)
            LOG.info("started %s (pid %d)", child.name, self._procs[child.name].pid)

    def check_alive(self) -> None:
        """Raise when a node has exited (naming it and pointing at its log)."""
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                log = self.log_dir / f"{name}.log"
                raise RuntimeError(f"node {name} {describe_exit(proc.returncode)}; see {log}")

    def status_report(self, last_lines: int = 12) -> str:
        """Each node's state and the end of its log, so a failure can be read where it is reported
        (a CI log) without the log folder, which is often gone by then."""
        parts = []
        for name, proc in self._procs.items():
            code = proc.poll()
            state = "running" if code is None else describe_exit(code)
            log = self.log_dir / f"{name}.log"
            lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else []
            tail = "\n".join(lines[-last_lines:])
            parts.append(f"--- {name} (pid {proc.pid}) {state}; last lines of {log}:\n{tail}")
        return "\n".join(parts)

    def stop(self) -> None:
        for name, stopped in stop_children(self._procs, timeout_s=self.stop_timeout_s).items():
            if stopped.killed:
                LOG.warning("%s did not stop within %.0f s: SIGKILL", name, self.stop_timeout_s)
        self._procs.clear()
