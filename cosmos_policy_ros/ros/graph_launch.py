# SPDX-License-Identifier: Apache-2.0
"""launch_ros actions for a scenario of :mod:`cosmos_policy_ros.ros.graph` (used by launch/*.launch.py).

Only the launch files import this module: it needs ``launch`` and ``launch_ros`` from a real ROS 2
install. The node list, parameters and remappings come from :func:`graph.build_graph`, evaluated
in an ``OpaqueFunction`` once the launch arguments are known, so ``ros2 launch`` starts exactly
what ``cosmos-policy up`` starts.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, LogInfo, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

try:  # Jazzy and later
    from launch_ros.actions import PushROSNamespace
except ImportError:  # Humble
    from launch_ros.actions import PushRosNamespace as PushROSNamespace

from cosmos_policy_ros.ros.dds_env import DISCOVERY_RANGE_VAR
from cosmos_policy_ros.ros.graph import (PACKAGE, GraphArgs, NodeGraph, ScenarioDefaults, build_graph,
                                         environment_defaults, write_parameter_file)

TRUE_WORDS = ("true", "1", "yes")

# (name, default, description) of every launch argument; all scenarios share them.
LAUNCH_ARGUMENTS = (
    ("robot", "", "Robot preset: a name under config/robots (sim_arm, fr3, ur, aloha) or the path of a "
                  "preset YAML; empty = sim_arm (sim_demo: the shipped demo of config/demo/demo.yaml: "
                  "its sim arm, checkpoint, scene and sim-time pacing)."),
    ("checkpoint", "", "Policy checkpoint folder (from_pretrained layout) for policy_node; empty = "
                       "params_file / config/policy_node.yaml (sim_demo: the demo's checkpoint)."),
    ("planning_checkpoint", "", "Checkpoint that scores plan-and-select candidates; empty = not set."),
    ("instruction", "", "Task instruction of policy_node; empty = not set (also ~/set_instruction)."),
    ("device", "", "Torch device of policy_node (cpu, cuda, cuda:1); empty = not set."),
    ("dtype", "", "Transformer dtype of policy_node (float32, bfloat16, float16); empty = not set."),
    ("autostart", "true", "true: policy_node configures and activates itself (the arbiter still starts "
                          "in HOLD); false: it waits unconfigured for a lifecycle manager."),
    ("namespace", "", "ROS namespace for every node of the scenario; empty = root namespace."),
    ("use_sim_time", "", "true: every node follows /clock (simulation, bag replay); empty = false, "
                         "except the sim_demo demo (sim time)."),
    ("params_file", "", "ROS parameter YAML for every node: wins over the shipped config/*.yaml, loses "
                        "to the arguments above."),
    ("expert", "true", "sim_demo only: also start the scripted expert teleoperator."),
)


def declare_arguments() -> list[DeclareLaunchArgument]:
    return [DeclareLaunchArgument(name, default_value=default, description=description)
            for name, default, description in LAUNCH_ARGUMENTS]


def graph_args(context: LaunchContext) -> GraphArgs:
    """The launch arguments' values as :class:`GraphArgs`."""
    value = {name: LaunchConfiguration(name).perform(context) for name, _, _ in LAUNCH_ARGUMENTS}
    flag = {name: value[name].lower() in TRUE_WORDS for name in ("autostart", "use_sim_time", "expert")}
    use_sim_time = flag["use_sim_time"] if value["use_sim_time"] else None
    return GraphArgs(robot=value["robot"], checkpoint=value["checkpoint"],
                     planning_checkpoint=value["planning_checkpoint"], instruction=value["instruction"],
                     device=value["device"], dtype=value["dtype"], autostart=flag["autostart"],
                     namespace=value["namespace"], use_sim_time=use_sim_time,
                     with_expert=flag["expert"], params_file=value["params_file"])


def node_actions(graph: NodeGraph, parameter_dir: Path) -> list[Node]:
    """One Node per spec; its merged parameters travel in one file (no launch_ros type guessing)."""
    return [Node(package=PACKAGE, executable=spec.kind.executable, name=spec.name, output="screen",
                 parameters=[write_parameter_file(spec, parameter_dir)], remappings=list(spec.remappings))
            for spec in graph.nodes]


def environment_actions(scenario: str) -> list[SetEnvironmentVariable | LogInfo]:
    """Our launchers keep DDS on this machine and MuJoCo headless unless the user chose otherwise
    (:func:`graph.environment_defaults`, as ``up`` does), and say so: a controller on another PC is
    invisible under LOCALHOST discovery."""
    return [action for name, value in environment_defaults(scenario, os.environ).items()
            for action in (SetEnvironmentVariable(name, value), LogInfo(msg=f"{name} unset: using {value}"
                           + (" (set it, e.g. SUBNET, to reach a controller on another machine)"
                              if name == DISCOVERY_RANGE_VAR else "")))]


def _launch_setup(context: LaunchContext, scenario: str,
                  defaults: ScenarioDefaults | None) -> list[GroupAction]:
    graph = build_graph(scenario, graph_args(context), defaults)
    parameter_dir = Path(tempfile.mkdtemp(prefix=f"{PACKAGE}_{scenario}_"))
    scoped = [PushROSNamespace(graph.namespace)] if graph.namespace else []
    return [GroupAction([*scoped, *node_actions(graph, parameter_dir)])]


def scenario_launch_description(scenario: str, defaults: ScenarioDefaults | None = None) -> LaunchDescription:
    """Launch arguments plus the scenario's nodes (built when the arguments are known); ``defaults``
    apply when no robot is chosen."""
    return LaunchDescription([*declare_arguments(), *environment_actions(scenario),
                              OpaqueFunction(function=_launch_setup, args=[scenario, defaults])])
