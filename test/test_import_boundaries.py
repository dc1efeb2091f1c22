# SPDX-License-Identifier: Apache-2.0
"""The layering rule, enforced: a training cluster imports the ROS-free packages without ROS, and
the nodes in ``ros/`` stay thin adapters that never run torch themselves.

Floors: each folder (or top-level module) of the package stands on a floor; a module imports its
own folder and lower floors only (:data:`FLOORS`, drawn in docs/ARCHITECTURE.md), so the data moves
forward through the folders and a ROS-free or showcase-free layer stays importable on its own.

Two independent checks of the ROS and torch rules, because each misses what the other sees:

* static: an AST walk of every module's import statements (also those inside functions), followed
  transitively through our own modules, so a ROS import two hops away is found with its chain;
* dynamic: a fresh interpreter imports every module of a ROS-free package and reports which ROS
  modules ended up in ``sys.modules`` (catches ``importlib``/``__import__`` the AST cannot see);
  for ``ros/`` an import hook names the module whose own code asked for torch.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

import cosmos_policy_ros

PACKAGE = "cosmos_policy_ros"
PACKAGE_DIR = Path(cosmos_policy_ros.__file__).parent
ROS_FREE = ("core", "control", "data", "train", "serving")

# Top-level names of the ROS client library, its message/launch packages and our interfaces.
# `rosbags` (the pure-Python bag library data/ reads MCAP with) is not ROS and stays allowed.
ROS_TOP = frozenset({
    "rclpy", "rcl", "rcl_interfaces", "rclpy_message_converter", "rosidl_runtime_py",
    "rosidl_parser", "rosbag2_py", "launch", "launch_ros", "ament_index_python", "rpyutils",
    "message_filters", "tf2_ros", "builtin_interfaces", "unique_identifier_msgs",
})
ROS_SUFFIXES = ("_msgs", "_srvs", "_interfaces")
# Lowest first. Same floor = neither imports the other.
FLOORS = (
    ("config_checks", "crash_traces", "stamps", "settings"),
    ("core", "presets"),
    ("control",),
    ("serving",),
    ("data",),
    ("train", "ros"),
    ("sim",),
    ("demo",),
    ("commands",),
    ("cli",),
)
FLOOR = {unit: level for level, units in enumerate(FLOORS) for unit in units}
TORCH_TOP = frozenset({"torch", "torchvision", "diffusers", "transformers"})


def _is_ros(name: str) -> bool:
    top = name.split(".")[0]
    return top in ROS_TOP or top.endswith(ROS_SUFFIXES)


def _is_torch(name: str) -> bool:
    return name.split(".")[0] in TORCH_TOP or name == "safetensors.torch"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@lru_cache(maxsize=None)
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def _modules_under(package: str) -> list[str]:
    prefix = f"{PACKAGE}.{package}"
    return [m for m in _modules() if m == prefix or m.startswith(prefix + ".")]


def _present_ros_free() -> list[str]:
    return [p for p in ROS_FREE if (PACKAGE_DIR / p / "__init__.py").exists()]


def _catches_import_error(node: ast.Try) -> bool:
    """``try: import x / except ImportError:``: an optional import, not a requirement."""
    caught = [h.type for h in node.handlers if h.type is not None]
    names = [e.id for t in caught for e in (t.elts if isinstance(t, ast.Tuple) else [t])
             if isinstance(e, ast.Name)]
    return bool({"ImportError", "ModuleNotFoundError"} & set(names))


@lru_cache(maxsize=None)
def _imports(module: str) -> tuple[str, ...]:
    """Every absolute module name ``module``'s statements import (relative ones resolved).

    Imports inside ``try/except ImportError`` are optional (``presets.find_config_dir`` asks the
    ament index only when it is installed) and not counted.

    ``from pkg import name`` yields ``pkg.name`` too when that is one of our modules, and
    importing ``a.b.c`` runs ``a`` and ``a.b`` first, so parents are listed as well.
    """
    path = _modules()[module]
    is_package = path.name == "__init__.py"
    names: list[str] = []
    tree = ast.parse(path.read_text(), filename=str(path))
    optional = {id(n) for t in ast.walk(tree) if isinstance(t, ast.Try) and _catches_import_error(t)
                for stmt in t.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names.append(target)
            names += [f"{target}.{alias.name}" for alias in node.names
                      if f"{target}.{alias.name}" in _modules()]
    expanded = set()
    for name in names:
        parts = name.split(".")
        expanded.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return tuple(sorted(expanded))


def _ros_chains(start: str) -> list[str]:
    """Import chains from ``start`` through our own modules to a ROS module (one per ROS name)."""
    found: dict[str, str] = {}
    seen = {start}
    frontier = [(start, [start])]
    while frontier:
        module, chain = frontier.pop(0)
        for name in _imports(module):
            if _is_ros(name) and name.split(".")[0] not in found:
                found[name.split(".")[0]] = " -> ".join(chain + [name])
            elif name in _modules() and name not in seen and name != PACKAGE:
                seen.add(name)
                frontier.append((name, chain + [name]))
    return sorted(found.values())


@pytest.mark.parametrize("package", _present_ros_free())
def test_ros_free_package_imports_no_ros_statically(package):
    chains = [c for m in _modules_under(package) for c in _ros_chains(m)]
    assert chains == [], f"{package}/ reaches ROS through:\n" + "\n".join(chains)


def test_ros_modules_import_no_torch_statically():
    offenders = [f"{m}: {name}" for m in _modules_under("ros") for name in _imports(m)
                 if _is_torch(name)]
    assert offenders == [], "ros/ must leave torch to the serving side:\n" + "\n".join(offenders)


_DYNAMIC_ROS_FREE = """
import importlib, json, sys
modules = json.loads(sys.argv[1])
for name in modules:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in set(sys.argv[2].split(","))
                        or m.split(".")[0].endswith(("_msgs", "_srvs", "_interfaces")))))
"""


@pytest.mark.parametrize("package", _present_ros_free())
def test_ros_free_package_loads_no_ros_at_runtime(package):
    out = subprocess.run(
        [sys.executable, "-c", _DYNAMIC_ROS_FREE, json.dumps(_modules_under(package)),
         ",".join(sorted(ROS_TOP))],
        capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [], f"importing {package}/ loaded ROS modules: {loaded}"


# Every import statement goes through ``builtins.__import__`` with the importing module's globals,
# even when the module is already loaded; wrapping it names the module whose own code asked for
# torch, so a node that imports torch after serving/ has loaded it is still seen.
_DYNAMIC_ROS_TORCH = """
import builtins, importlib, json, sys
KIT_PACKAGES = {"launch", "launch_ros"}
askers = set()
_import = builtins.__import__

def witness(name, globals=None, locals=None, fromlist=(), level=0):
    module = (globals or {}).get("__name__", "")
    if level == 0 and (name.split(".")[0] in {"torch", "torchvision", "diffusers", "transformers"}
                       or name == "safetensors.torch"
                       or (name == "safetensors" and "torch" in (fromlist or ()))):
        askers.add(module)
    return _import(name, globals, locals, fromlist, level)

builtins.__import__ = witness
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
    except ImportError as error:  # ros2 launch is only there with the kit (the static walk still covers it)
        if error.name not in KIT_PACKAGES:
            raise
print(json.dumps(sorted(m for m in askers if m.startswith("cosmos_policy_ros.ros"))))
"""


def test_ros_modules_import_no_torch_at_runtime():
    out = subprocess.run(
        [sys.executable, "-c", _DYNAMIC_ROS_TORCH, json.dumps(_modules_under("ros"))],
        capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr
    askers = json.loads(out.stdout.strip().splitlines()[-1])
    assert askers == [], f"ros/ modules whose own code imports torch: {askers}"


def test_static_walk_sees_relative_and_nested_imports():
    """The walker resolves what the rule depends on: relative imports and imports in functions."""
    arbitration = f"{PACKAGE}.control.arbitration"
    assert f"{PACKAGE}.control.limits" in _imports(arbitration)
    assert any(c.endswith("rclpy") for c in _ros_chains(f"{PACKAGE}.ros.command_arbiter"))
    assert "ament_index_python.packages" not in _imports(f"{PACKAGE}.presets")  # optional import


def _unit(module: str) -> str:
    """The folder (or top-level module) of one of our modules: ``cosmos_policy_ros.ros.graph`` -> ``ros``."""
    return module.split(".")[1]


def _upward_imports() -> list[str]:
    """``module -> imported`` for every import (also inside functions) that is not downward."""
    return [f"{module} -> {name}" for module in _modules() if module != PACKAGE for name in _imports(module)
            if name in _modules() and name != PACKAGE and _unit(name) != _unit(module)
            and FLOOR[_unit(name)] >= FLOOR[_unit(module)]]


def test_every_folder_stands_on_a_floor():
    assert {_unit(m) for m in _modules() if m != PACKAGE} - FLOOR.keys() == set(), "add the new folder to FLOORS"


def test_imports_only_go_down_the_floors():
    """No upward import: e.g. ``ros/`` never reads ``demo/`` (the sim_demo defaults are passed in),
    and ``presets`` (which ``control/`` reads) imports nothing of ``control/``."""
    assert _upward_imports() == [], "upward imports:\n" + "\n".join(_upward_imports())


def test_imports_are_absolute():
    """One spelling per import (``cosmos_policy_ros.x.y``), so a module reads the same wherever it moves."""
    relative = []
    for module, path in _modules().items():
        relative += [f"{module}:{node.lineno}" for node in ast.walk(ast.parse(path.read_text()))
                     if isinstance(node, ast.ImportFrom) and node.level]
    assert relative == [], "relative imports:\n" + "\n".join(relative)
