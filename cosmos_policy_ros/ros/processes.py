# SPDX-License-Identifier: Apache-2.0
"""Nodes as child processes: the one place that starts and stops them.

``cosmos-policy up``, the demo and the multi-process tests all start a node the same way (its
argv from the shared node-set description, localhost-only DDS unless the user chose otherwise)
and stop a set of children the same way: the stop signal to each one still running, one shared
grace period, SIGKILL for what is left, and the caller told which ones had to be killed.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from cosmos_policy_ros.ros.dds_env import apply_local_dds_defaults
from cosmos_policy_ros.ros.graph import NodeGraph, NodeSpec, environment_defaults

DEFAULT_STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ChildSpec:
    """One process to supervise: a display name and its argv."""

    name: str
    argv: tuple[str, ...]


@dataclass(frozen=True)
class Stopped:
    """How a child ended: what it wrote to a pipe (None without one) and whether it needed SIGKILL."""

    returncode: int
    output: Any
    killed: bool


def ros_value(value: Any) -> str:
    """A parameter value as ``-p name:=<text>`` text; JSON is YAML, so types survive (``"1.0"`` stays a string)."""
    return json.dumps(value)


def node_argv(spec: NodeSpec, graph: NodeGraph, python: str = sys.executable) -> tuple[str, ...]:
    """The command line that starts ``spec``: its merged parameters as ``-p``, then remaps."""
    ros_args = ["-r", f"__node:={spec.name}"]
    if graph.namespace:
        ros_args += ["-r", f"__ns:=/{graph.namespace.strip('/')}"]
    for name, value in spec.parameters.items():
        ros_args += ["-p", f"{name}:={ros_value(value)}"]
    for src, dst in spec.remappings:
        ros_args += ["-r", f"{src}:={dst}"]
    return (python, "-m", spec.kind.module, "--ros-args", *ros_args)


def graph_children(graph: NodeGraph, python: str = sys.executable) -> list[ChildSpec]:
    """One child per node of ``graph``, in the graph's order."""
    return [ChildSpec(spec.name, node_argv(spec, graph, python)) for spec in graph.nodes]


def child_env(base: Mapping[str, str] | None = None, scenario: str | None = None) -> dict[str, str]:
    """The environment of every node: the user's (``base``, default ours), plus localhost-only DDS
    where not set; for a ``scenario``'s nodes, what its launch file sets too
    (:func:`graph.environment_defaults`: sim_demo renders headless)."""
    env = dict(os.environ if base is None else base)
    apply_local_dds_defaults(env)
    if scenario:
        env.update(environment_defaults(scenario, env))
    return env


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by signal {signal.Signals(-returncode).name}"
    return f"exited with code {returncode}"


def start_child(argv: Sequence[str], env: Mapping[str, str], stdout: int | IO[Any] | None = None,
                text: bool = False, own_session: bool = True) -> subprocess.Popen:
    """Start ``argv`` with stderr joined to ``stdout`` (None: inherit ours).

    Args:
        own_session: a process group of its own, so a terminal's Ctrl-C reaches the child once,
            through its supervisor, instead of racing it.
    """
    return subprocess.Popen(list(argv), env=dict(env), stdout=stdout,
                            stderr=None if stdout is None else subprocess.STDOUT, text=text,
                            start_new_session=own_session)


def stop_children(procs: Mapping[str, subprocess.Popen], signum: int = signal.SIGINT,
                  timeout_s: float = DEFAULT_STOP_TIMEOUT_S, then: Sequence[int] = ()) -> dict[str, Stopped]:
    """Send ``signum`` to every child still running and wait ``timeout_s`` in all; each signal of
    ``then`` (e.g. SIGTERM) gets those still running another ``timeout_s``; SIGKILL the rest.

    Waiting reads each child's pipe (``communicate``), so a chatty child cannot block on a full
    pipe while it shuts down. A pipe already read to the end gives no output. Every child has
    exited when this returns.
    """
    pending = dict(procs)
    stopped: dict[str, Stopped] = {}
    for stop_signal in (signum, *then):
        for proc in pending.values():
            if proc.poll() is None:
                proc.send_signal(stop_signal)
        deadline = time.monotonic() + timeout_s
        for name, proc in list(pending.items()):
            try:
                output = _read_output(proc, max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:  # also raised when it exited but its pipe is unread
                continue
            stopped[name] = Stopped(proc.returncode, output, False)
            del pending[name]
    for name, proc in pending.items():
        killed = proc.poll() is None
        if killed:
            proc.kill()
        output = _read_output(proc, None)
        stopped[name] = Stopped(proc.returncode, output, killed)
    return {name: stopped[name] for name in procs}


def _read_output(proc: subprocess.Popen, timeout_s: float | None) -> Any:
    """The rest of a child's pipe once it exited (None without a pipe, "" if already read)."""
    pipe = proc.stdout
    if pipe is not None and pipe.closed:
        proc.wait(timeout_s)
        return ""
    return proc.communicate(timeout=timeout_s)[0]
