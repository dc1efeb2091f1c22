# SPDX-License-Identifier: Apache-2.0
"""`ros2 launch` of this package for tests (ros2cli-kit): build into a prefix, launch, stop with SIGINT.

The kit's README: ros2 launch needs the package in an ament index with its executables in
``<prefix>/lib/<package>/`` (a colcon build, not the editable install), and must be stopped with
SIGINT only (SIGTERM orphans its nodes).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ros_helpers import wait_for

REPO = Path(__file__).resolve().parents[1]
ROS2 = Path(sys.executable).parent / "ros2"
COLCON = Path(sys.executable).parent / "colcon"
LAUNCH_WAIT_S = 240.0


def require_kit() -> None:
    """Skip (with the reason) where the ros2 CLI is not installed."""
    if not ROS2.exists():
        pytest.skip("the ros2 CLI is not in this venv (install ../shared/vendor/ros2cli-kit)")


def build_prefix(base: Path) -> Path:
    """cosmos_policy_ros colcon-built into its own install prefix (share/, lib/<pkg>/)."""
    env = {**os.environ, "AMENT_PREFIX_PATH": sys.prefix}
    subprocess.run([str(COLCON), "--log-base", str(base / "log"), "build", "--base-paths", str(REPO),
                    "--packages-select", "cosmos_policy_ros", "--build-base", str(base / "build"),
                    "--install-base", str(base / "install"), "--merge-install"],
                   env=env, check=True, capture_output=True)
    return base / "install"


class Launch:
    """``ros2 launch cosmos_policy_ros <file> args...`` in its own process group, output to a file."""

    def __init__(self, prefix: Path, env: dict, log: Path, launch_file: str, **arguments: str) -> None:
        self.env = {**env, "AMENT_PREFIX_PATH": f"{prefix}:{sys.prefix}"}
        for name in ("RMW_IMPLEMENTATION", "ROS_LOCALHOST_ONLY", "_ROS_WHEELS_BOOTSTRAP_COMPLETE"):
            self.env.pop(name, None)
        self.log_path = log
        argv = [str(ROS2), "launch", "cosmos_policy_ros", launch_file, *(f"{k}:={v}" for k, v in arguments.items())]
        self.proc = subprocess.Popen(argv, env=self.env, stdout=open(log, "w"), stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_for_log(self, text: str) -> None:
        wait_for(lambda: text in self.log() or self.proc.poll() is not None, repr(text), LAUNCH_WAIT_S)
        assert text in self.log(), self.log()

    def ros2(self, *args: str) -> str:
        out = subprocess.run([str(ROS2), *args], env=self.env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    def param(self, node: str, name: str) -> str:
        return self.ros2("param", "get", "--no-daemon", "--spin-time", "5", node, name).strip()

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)
        return self.log()
