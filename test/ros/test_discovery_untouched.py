# SPDX-License-Identifier: Apache-2.0
"""Nodes never change the user's DDS discovery settings (issue 18).

On Jazzy/Kilted, forcing ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST hides a controller on another PC
(the usual Franka set-up). Only our launchers set it, and only when unset (graph_launch, up).
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("rclpy", reason="needs the ROS 2 Python wheels")

from cosmos_policy_ros.ros.dds_env import DISCOVERY_RANGE_VAR  # noqa: E402

pytestmark = pytest.mark.ros

# A node run by the nodes' own main (run_node), reporting the discovery setting it runs with.
PROBE = f"""
import os, rclpy
from rclpy.node import Node
from cosmos_policy_ros.ros.node_main import run_node
def factory():
    node = Node("discovery_probe")
    print("range=" + os.environ.get({DISCOVERY_RANGE_VAR!r}, "<unset>"), flush=True)
    node.create_timer(0.01, lambda: rclpy.try_shutdown())
    return node
run_node(factory, [])
"""


def test_run_node_leaves_discovery_unset(ros_domain):
    env = {k: v for k, v in ros_domain.env().items() if k != DISCOVERY_RANGE_VAR}
    env[DISCOVERY_RANGE_VAR] = "SUBNET"  # a user's choice must survive too
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60)
    assert "range=SUBNET" in out.stdout, out.stdout + out.stderr
    assert out.returncode == 0, out.stderr  # run_node's clean stop after an external rclpy shutdown
    del env[DISCOVERY_RANGE_VAR]
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60)
    assert "range=<unset>" in out.stdout, out.stdout + out.stderr
    assert os.environ.get(DISCOVERY_RANGE_VAR)  # this test process (conftest) keeps DDS local
