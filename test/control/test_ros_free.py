# SPDX-License-Identifier: Apache-2.0
"""control/ must stay importable without ROS: no rclpy or *_msgs imports."""
from __future__ import annotations

import ast
from pathlib import Path

import cosmos_policy_ros.control as control


def test_control_imports_no_ros():
    offenders = []
    for path in Path(control.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names
                          if n.split(".")[0] == "rclpy" or n.split(".")[0].endswith("_msgs")
                          or n.split(".")[0].endswith("_srvs")]
    assert offenders == []
