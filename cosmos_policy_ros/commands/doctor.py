# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy doctor``: check the installation and print one table row per check.

Each check is a small function returning a :class:`Check`; a failure says what to do. The
command exits non-zero when any check FAILs (WARN is informational), so CI and set-up scripts can
call it.
"""
from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass

from cosmos_policy_ros.ros.dds_env import DEFAULT_DISCOVERY_RANGE, DISCOVERY_RANGE_VAR, DOMAIN_VAR

HELP = "Check the installation: ROS 2, interfaces, DDS settings, torch, rendering."
OK, WARN, FAIL = "OK", "WARN", "FAIL"
ROS_MESSAGE_MODULES = ("std_msgs.msg", "sensor_msgs.msg", "trajectory_msgs.msg", "diagnostic_msgs.msg",
                       "std_srvs.srv", "lifecycle_msgs.msg", "rosgraph_msgs.msg")
PROJECT_INTERFACES = {"cosmos_policy_msgs.msg": ("ActionChunk", "PlanCandidates", "PolicyStatus", "EpisodeEvent"),
                      "cosmos_policy_msgs.srv": ("SetMode", "SetInstruction", "EndEpisode")}
RENDER_SIZE_PX = 32
RENDER_TEST_XML = "<mujoco><worldbody><light pos='0 0 1'/><geom type='sphere' size='0.1'/></worldbody></mujoco>"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str


def check_python() -> Check:
    ok = sys.version_info >= (3, 10)
    return Check("python", OK if ok else FAIL, f"{platform.python_version()} ({sys.executable})")


def check_rclpy() -> Check:
    try:
        rclpy_utilities = importlib.import_module("rclpy.utilities")
        rmw = rclpy_utilities.get_rmw_implementation_identifier()
    except Exception as err:  # an ImportError or a missing shared library: both mean "not usable"
        return Check("ROS 2 rclpy", FAIL, f"{err}; run scripts/setup.sh or source your ROS 2 distro")
    distro = os.environ.get("ROS_DISTRO", "wheels (no ROS_DISTRO)")
    return Check("ROS 2 rclpy", OK, f"distro {distro}, RMW {rmw}")


def check_ros_messages() -> Check:
    missing = []
    for module in ROS_MESSAGE_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    return Check("ROS 2 messages", FAIL if missing else OK,
                 f"missing {missing}" if missing else f"{len(ROS_MESSAGE_MODULES)} packages import")


def check_interfaces() -> Check:
    try:
        found = [getattr(importlib.import_module(module), name)
                 for module, names in PROJECT_INTERFACES.items() for name in names]
    except (ImportError, AttributeError) as err:
        return Check("cosmos_policy_msgs", FAIL, f"{err}; build it: colcon build (see README)")
    return Check("cosmos_policy_msgs", OK, f"{len(found)} interfaces import")


def check_dds_env() -> Check:
    discovery = os.environ.get(DISCOVERY_RANGE_VAR)
    domain = os.environ.get(DOMAIN_VAR, "0 (default)")
    notes = [f"{DOMAIN_VAR}={domain}"]
    status = OK
    if discovery is None:
        notes.append(f"{DISCOVERY_RANGE_VAR} unset: project processes use {DEFAULT_DISCOVERY_RANGE}, "
                     "other ROS tools on this shell will not")
        status = WARN
    else:
        notes.append(f"{DISCOVERY_RANGE_VAR}={discovery}")
    if "ROS_LOCALHOST_ONLY" in os.environ:
        notes.append("ROS_LOCALHOST_ONLY is ignored since Jazzy; use ROS_AUTOMATIC_DISCOVERY_RANGE")
        status = WARN
    if os.environ.get("RMW_IMPLEMENTATION"):
        notes.append(f"RMW_IMPLEMENTATION={os.environ['RMW_IMPLEMENTATION']}")
    return Check("DDS environment", status, "; ".join(notes))


def check_torch() -> Check:
    try:
        torch = importlib.import_module("torch")
    except ImportError as err:
        return Check("torch", FAIL, str(err))
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU build"
    if torch.cuda.is_available():
        return Check("torch", OK, f"{torch.__version__}, {build}, GPU {torch.cuda.get_device_name(0)}")
    return Check("torch", OK, f"{torch.__version__}, {build}, no GPU visible (CPU inference only)")


def check_mujoco_rendering() -> Check:
    try:
        mujoco = importlib.import_module("mujoco")
        model = mujoco.MjModel.from_xml_string(RENDER_TEST_XML)
        renderer = mujoco.Renderer(model, RENDER_SIZE_PX, RENDER_SIZE_PX)
        data = mujoco.MjData(model)
        mujoco.mj_forward(model, data)
        renderer.update_scene(data)
        image = renderer.render()
        renderer.close()
    except Exception as err:  # import, GL context or rendering failure: all mean no camera images
        return Check("MuJoCo rendering", FAIL, f"{err}; headless machines need MUJOCO_GL=egl")
    gl = os.environ.get("MUJOCO_GL", "default")
    return Check("MuJoCo rendering", OK, f"mujoco {mujoco.__version__}, MUJOCO_GL={gl}, {image.shape} frame")


def check_launch() -> Check:
    try:
        importlib.import_module("launch_ros")
    except ImportError:
        return Check("ros2 launch", WARN, "launch_ros not installed: start node sets with `cosmos-policy up`")
    return Check("ros2 launch", OK, "launch_ros available: `ros2 launch cosmos_policy_ros ...` works")


def check_presets() -> Check:
    from cosmos_policy_ros.presets import ROBOTS_DIR, available_presets, load_preset

    try:
        names = [load_preset(name).name for name in available_presets()]
    except ValueError as err:
        return Check("robot presets", FAIL, str(err))
    return Check("robot presets", OK if names else FAIL, f"{names} in {ROBOTS_DIR}")


CHECKS: tuple[Callable[[], Check], ...] = (
    check_python, check_rclpy, check_ros_messages, check_interfaces, check_dds_env, check_torch,
    check_mujoco_rendering, check_launch, check_presets,
)


def format_table(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    return "\n".join(f"{c.name:<{width}}  {c.status:<4}  {c.detail}" for c in checks)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--skip", action="append", default=[], metavar="CHECK",
                        help="Skip a check by function name suffix (e.g. mujoco_rendering); repeatable.")


def run(args: argparse.Namespace) -> int:
    selected = [check for check in CHECKS if check.__name__.removeprefix("check_") not in args.skip]
    results = [check() for check in selected]
    print(format_table(results))
    return 1 if any(c.status == FAIL for c in results) else 0
