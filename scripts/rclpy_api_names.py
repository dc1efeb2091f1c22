#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Print rclpy's Python API at one commit of a ros2/rclpy clone (test/fixtures/rclpy_api/).

    python scripts/rclpy_api_names.py /path/to/rclpy-clone humble > test/fixtures/rclpy_api/humble.txt

One line per name: ``module:name`` (top level) and ``module:Class.attr`` (methods, properties,
class attributes), read from the sources with ``ast`` (nothing is imported).
"""
from __future__ import annotations

import ast
import subprocess
import sys


def _git(clone: str, *args: str) -> str:
    return subprocess.run(["git", "-C", clone, *args], capture_output=True, text=True, check=True).stdout


def _assigned(node: ast.stmt) -> list[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return [t.id for t in targets if isinstance(t, ast.Name)]


def names(tree: ast.Module) -> set[str]:
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.add(node.name)
        elif isinstance(node, ast.ClassDef):
            found.add(node.name)
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found.add(f"{node.name}.{item.name}")
                elif isinstance(item, (ast.Assign, ast.AnnAssign)):
                    found.update(f"{node.name}.{name}" for name in _assigned(item))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            found.update(_assigned(node))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return found


def main(clone: str, ref: str) -> None:
    commit = _git(clone, "rev-parse", ref).strip()
    print(f"# rclpy's Python API at ros2/rclpy {ref}, commit {commit} (scripts/rclpy_api_names.py).")
    for path in sorted(_git(clone, "ls-tree", "-r", "--name-only", commit, "rclpy/rclpy/").split()):
        if not path.endswith(".py"):
            continue
        module = path[len("rclpy/"):-len(".py")].replace("/", ".").removesuffix(".__init__")
        for name in sorted(names(ast.parse(_git(clone, "show", f"{commit}:{path}")))):
            print(f"{module}:{name}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
