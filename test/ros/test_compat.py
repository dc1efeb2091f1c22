# SPDX-License-Identifier: Apache-2.0
"""The distro shims of ``ros/compat.py``, on real rclpy.

Humble's rclpy (3.3.x, branch humble of ros2/rclpy) has no ``add_post_set_parameters_callback``;
a node class without it stands in for Humble's, everything else is the installed rclpy. Jazzy's
``Executor.shutdown()`` returns with callbacks still running (compat.py says where). The Humble
check: every rclpy name the package imports exists in Humble's rclpy, and an rclpy method Humble
lacks is called only in compat.py (test/fixtures/rclpy_api/humble.txt, read from the humble branch).
"""
from __future__ import annotations

import ast
import inspect
import threading
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy", reason="needs the ROS 2 Python wheels")

from rcl_interfaces.msg import SetParametersResult  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

import cosmos_policy_ros  # noqa: E402
from cosmos_policy_ros.ros import compat  # noqa: E402
from cosmos_policy_ros.ros.compat import add_parameter_callbacks, shutdown_executor  # noqa: E402

from ros_helpers import WAIT_S  # noqa: E402

pytestmark = pytest.mark.ros
HUMBLE_API = Path(__file__).parents[1] / "fixtures" / "rclpy_api" / "humble.txt"
PACKAGE = Path(cosmos_policy_ros.__file__).parent


class HumbleNode(Node):
    """rclpy's Node as Humble has it: no post-set callbacks."""

    def __getattribute__(self, name: str):
        if name == "add_post_set_parameters_callback":
            raise AttributeError(name)
        return super().__getattribute__(name)


@pytest.mark.parametrize("node_class", [Node, HumbleNode], ids=["jazzy_and_later", "humble"])
def test_apply_runs_only_for_accepted_changes(node_class, ros_domain):
    context = rclpy.Context()
    rclpy.init(context=context)
    node = node_class("compat_probe", context=context)
    applied: list[str] = []
    try:
        node.declare_parameter("instruction", "")
        add_parameter_callbacks(
            node, lambda ps: SetParametersResult(successful=all(p.value != "bad" for p in ps), reason="bad"),
            lambda ps: applied.extend(p.value for p in ps))
        assert hasattr(node, "add_post_set_parameters_callback") == (node_class is Node)
        assert node.set_parameters([Parameter("instruction", value="fold")])[0].successful
        assert not node.set_parameters([Parameter("instruction", value="bad")])[0].successful
        assert applied == ["fold"] and node.get_parameter("instruction").value == "fold"
    finally:
        node.destroy_node()
        context.try_shutdown()


def test_shutdown_executor_returns_after_the_callback_in_flight(ros_domain):
    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node("compat_executor_probe", context=context)
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(node)
    started, finished = threading.Event(), threading.Event()

    def long_callback() -> None:
        timer.cancel()
        started.set()
        time.sleep(0.5)  # still running when the executor is shut down (the pass never depends on it)
        finished.set()

    timer = node.create_timer(0.01, long_callback)
    try:
        deadline = time.monotonic() + WAIT_S
        while not started.is_set() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        assert started.is_set(), "the timer callback never started"
        shutdown_executor(executor)
        assert finished.is_set()  # no callback of the executor runs once it returned
    finally:
        node.destroy_node()
        context.try_shutdown()


def _humble_api() -> set[str]:
    return {line for line in HUMBLE_API.read_text().splitlines() if line and not line.startswith("#")}


def _package_sources() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text()) for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_rclpy_name_the_package_uses_exists_on_humble():
    api, used = _humble_api(), set()
    for path, tree in _package_sources().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "rclpy":
                used.update((f"{node.module}:{alias.name}", path.name) for alias in node.names)
            elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                  and node.value.id == "rclpy"):
                used.add((f"rclpy:{node.attr}", path.name))
    assert used  # the scan found the package's rclpy calls
    assert sorted(name for name in used if name[0] not in api) == []


def test_rclpy_methods_newer_than_humble_are_called_only_in_compat():
    """Method names of the installed rclpy's classes that no Humble class has (e.g.
    ``add_post_set_parameters_callback``): only compat.py may call them, behind a check."""
    members = [name.split(":", 1)[1] for name in _humble_api()]
    humble_attrs = {member.split(".", 1)[1] for member in members if "." in member}
    installed = {name for module in ("node", "publisher", "subscription", "client", "service", "timer", "clock",
                                     "context", "executors", "lifecycle", "action", "duration", "time")
                 for _, cls in inspect.getmembers(__import__(f"rclpy.{module}", fromlist=["_"]), inspect.isclass)
                 if cls.__module__.startswith("rclpy") for name, member in vars(cls).items()
                 if not name.startswith("_") and (inspect.isfunction(member) or isinstance(member, property))}
    newer = installed - humble_attrs
    assert "add_post_set_parameters_callback" in newer  # the scan sees what Humble lacks
    calls = {(node.attr, path.name) for path, tree in _package_sources().items() if path != Path(compat.__file__)
             for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr in newer}
    assert sorted(calls) == []
