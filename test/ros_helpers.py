# SPDX-License-Identifier: Apache-2.0
"""Shared pieces of the multi-process ROS tests (``test/ros``, ``test/sim``).

A node under test runs as a subprocess (:func:`start_node_process`, stopped by
:func:`stop_process`); the test itself plays the rest of the graph with a :class:`SpinningNode`,
an in-process node on its own context, and polls for what it expects with :func:`wait_for`.
Importable as ``ros_helpers``: pytest puts ``test/`` (the folder of the root conftest) on sys.path.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import rclpy
from rclpy.client import Client
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node

from cosmos_policy_ros.ros.conversions import NANOSECONDS_PER_SECOND
from cosmos_policy_ros.ros.processes import start_child, stop_children

WAIT_S = 30.0
POLL_S = 0.01
STOP_TIMEOUT_S = 20.0


def wait_for(predicate: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> None:
    """Poll ``predicate`` until it is truthy.

    Raises:
        AssertionError: naming ``what``, after ``timeout_s`` seconds.
    """
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(POLL_S)


def start_node_process(entry: str | Path, env: Mapping[str, str], params: Mapping[str, object] | None = None,
                       remaps: Mapping[str, str] | None = None) -> subprocess.Popen:
    """``python ENTRY --ros-args -p name:=value ... -r from:=to ...``, stdout+stderr as text.

    Args:
        entry: a node's module name (run with ``-m``, its ``__main__`` runs ``main()``) or the
            ``Path`` of a helper script.
        env: the environment, e.g. ``ros_domain.env()`` (leased domain, DDS on localhost).
        params: node parameters, written as ``name:=value`` (``str(value)``).
        remaps: topic/service remappings.
    """
    args = [arg for name, value in (params or {}).items() for arg in ("-p", f"{name}:={value}")]
    args += [arg for source, target in (remaps or {}).items() for arg in ("-r", f"{source}:={target}")]
    target = [str(entry)] if isinstance(entry, Path) else ["-m", entry]
    # Same process group as pytest: an interrupted run's Ctrl-C reaches the node too.
    return start_child([sys.executable, *target, "--ros-args", *args], env, stdout=subprocess.PIPE, text=True,
                       own_session=False)


def stop_process(proc: subprocess.Popen, stop_signal: int = signal.SIGINT,
                 timeout_s: float = STOP_TIMEOUT_S) -> str:
    """Send ``stop_signal`` (if it still runs), wait for the exit and return its output.

    Raises:
        AssertionError: with the output, when it did not exit within ``timeout_s``; it is then
            killed, so a failed stop never leaves the process behind.
    """
    stopped = stop_children({"node": proc}, stop_signal, timeout_s)["node"]
    if stopped.killed:
        raise AssertionError(f"{proc.args} did not stop within {timeout_s} s of {signal.Signals(stop_signal).name}; "
                             f"killed. Output:\n{(stopped.output or '')[-3000:]}")
    return stopped.output


def end_processes(procs: Iterable[subprocess.Popen | None], timeout_s: float = STOP_TIMEOUT_S) -> list[str]:
    """Teardown: end every process whatever state the test left it in, and return their outputs.

    Each still running gets SIGINT (its clean shutdown), then SIGTERM, then SIGKILL, each after the
    previous one had ``timeout_s`` to work (``processes.stop_children``). Never raises, so one
    stubborn process cannot leave the next behind. A process whose output was already read returns ``""``.
    """
    running = {str(k): proc for k, proc in enumerate(procs) if proc is not None}
    stopped = stop_children(running, signal.SIGINT, timeout_s, then=(signal.SIGTERM,))
    return [stopped[k].output or "" for k in running]


class SpinningNode:
    """A node on its own context, spun by an executor (single-threaded unless asked) on a daemon thread.

    Its own context keeps it apart from anything else in the test process. Entities may be made
    on ``node`` before or after construction; callbacks run on the spin thread.
    """

    def __init__(self, name: str, threads: int = 1) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node(name, context=self.context)
        # More threads for callbacks that block (an action server executing a goal until preempted).
        self.executor = (SingleThreadedExecutor(context=self.context) if threads == 1
                         else MultiThreadedExecutor(num_threads=threads, context=self.context))
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, name=f"{name}_spin", daemon=True)
        self._thread.start()
        self._closed = False

    def now_s(self) -> float:
        """The node's clock [s]."""
        return self.node.get_clock().now().nanoseconds / NANOSECONDS_PER_SECOND

    def call(self, client: Client, request: Any, timeout_s: float = WAIT_S) -> Any:
        """Call a service and return its response (the spin thread delivers it)."""
        wait_for(client.service_is_ready, f"service {client.srv_name}", timeout_s)
        future = client.call_async(request)
        wait_for(future.done, f"a response from {client.srv_name}", timeout_s)
        return future.result()

    def close(self) -> None:
        """Stop spinning and tear down in the order that never aborts (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.executor.shutdown()
        self._thread.join()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def urdf_for(joints: tuple[str, ...]) -> str:
    """A chain with one revolute joint per preset joint (what a robot_state_publisher offers)."""
    links = "".join(f'<link name="l{i}"/>' for i in range(len(joints) + 1))
    chain = "".join(f'<joint name="{j}" type="revolute"><parent link="l{i}"/><child link="l{i + 1}"/>'
                    f'<limit lower="-2" upper="2" velocity="2" effort="10"/></joint>' for i, j in enumerate(joints))
    return f'<robot name="stand_in">{links}{chain}</robot>'
