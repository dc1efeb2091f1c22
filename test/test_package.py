# SPDX-License-Identifier: Apache-2.0
"""Package hygiene: one version source, and the ROS-free layers never import ROS."""
from __future__ import annotations

import ast
import importlib.metadata
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "cosmos_policy_ros"
ROS_FREE_LAYERS = ("core", "control", "data", "train")


def xml_version(path: Path) -> str:
    return re.search(r"<version>([^<]+)</version>", path.read_text()).group(1)


def test_setup_py_takes_its_version_from_package_xml():
    setup = ast.parse((REPO / "setup.py").read_text())
    [version_kw] = [kw for node in ast.walk(setup) if isinstance(node, ast.Call)
                    for kw in node.keywords if kw.arg == "version"]
    assert isinstance(version_kw.value, ast.Call) and version_kw.value.func.id == "_version"
    assert "package.xml" in ast.get_source_segment((REPO / "setup.py").read_text(),
                                                   next(n for n in setup.body if isinstance(n, ast.FunctionDef)
                                                        and n.name == "_version"))


def test_interface_package_has_the_same_version():
    assert xml_version(REPO / "cosmos_policy_msgs/package.xml") == xml_version(REPO / "package.xml")


def test_installed_metadata_matches_package_xml():
    assert importlib.metadata.version("cosmos_policy_ros") == xml_version(REPO / "package.xml")


def ros_imports(path: Path, root: Path = REPO) -> list[str]:
    """``file:line imports module`` for every ROS (or ros/ layer) import, nested ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        for module in modules:
            top = module.split(".")[0]
            if top in ("rclpy", "launch", "launch_ros") or top.endswith(("_msgs", "_srvs")) or \
                    module.startswith("cosmos_policy_ros.ros"):
                found.append(f"{path.relative_to(root)}:{node.lineno} imports {module}")
    return found


@pytest.mark.parametrize("layer", ROS_FREE_LAYERS)
def test_ros_free_layers_never_import_ros(layer):
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"cosmos_policy_ros/{layer} has no modules"
    assert [hit for path in files for hit in ros_imports(path)] == []


def test_the_scan_catches_nested_ros_imports(tmp_path):
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("def f():\n    from sensor_msgs.msg import Image\n    import rclpy.node\n    import numpy\n")
    assert ros_imports(sneaky, tmp_path) == ["sneaky.py:2 imports sensor_msgs.msg", "sneaky.py:3 imports rclpy.node"]
