# SPDX-License-Identifier: Apache-2.0
"""launch_ros actions for a scenario of :mod:`cosmos_policy_ros.ros.graph` (used by launch/*.launch.py).

Only the launch files import this module: it needs ``launch`` and ``launch_ros`` from a real ROS 2
install. The node list, parameters and remappings come from :func:`graph.build_graph`, evaluated
in an ``OpaqueFunction`` once the launch arguments are known, so ``ros2 launch`` starts exactly
what ``cosmos-policy up`` starts.
"""
from __future__ import annotations

from typing import Any

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, SetParameter
from launch_ros.substitutions import FindPackageShare

try:  # Jazzy and later
    from launch_ros.actions import PushROSNamespace
except ImportError:  # Humble
    from launch_ros.actions import PushRosNamespace as PushROSNamespace

from cosmos_policy_ros.ros.graph import DEFAULT_PRESET, PACKAGE, GraphArgs, NodeGraph, NodeSpec, build_graph

TRUE_WORDS = ("true", "1", "yes")

# (name, default, description) of every launch argument; all scenarios share them.
LAUNCH_ARGUMENTS = (
    ("preset", DEFAULT_PRESET, "Robot preset: a name under config/robots (sim_arm, aloha, franka) "
                               "or the path of a preset YAML."),
    ("checkpoint", "", "Policy checkpoint folder (from_pretrained layout) for policy_node; "
                       "empty = policy_node's default."),
    ("namespace", "", "ROS namespace for every node of the scenario; empty = root namespace."),
    ("use_sim_time", "false", "true: every node follows /clock (simulation, bag replay)."),
    ("params_file", "", "Extra ROS parameter YAML given to every node after the shipped config/*.yaml."),
    ("expert", "true", "sim_demo only: also start the scripted expert teleoperator."),
)


def declare_arguments() -> list[DeclareLaunchArgument]:
    return [DeclareLaunchArgument(name, default_value=default, description=description)
            for name, default, description in LAUNCH_ARGUMENTS]


def graph_args(context: LaunchContext) -> GraphArgs:
    """The launch arguments' values as :class:`GraphArgs`."""
    value = {name: LaunchConfiguration(name).perform(context) for name, _, _ in LAUNCH_ARGUMENTS}
    return GraphArgs(preset=value["preset"], checkpoint=value["checkpoint"],
                     namespace=value["namespace"],
                     use_sim_time=value["use_sim_time"].lower() in TRUE_WORDS,
                     with_expert=value["expert"].lower() in TRUE_WORDS,
                     params_file=value["params_file"])


def _parameter_entries(spec: NodeSpec) -> list[Any]:
    """Param files (share-relative ones through FindPackageShare) then the explicit values."""
    files = [path if path.startswith("/") else PathJoinSubstitution([FindPackageShare(PACKAGE), path])
             for path in spec.param_files]
    return [*files, dict(spec.parameters)]


def node_actions(graph: NodeGraph) -> list[Node]:
    return [Node(package=PACKAGE, executable=spec.kind.executable, name=spec.name, output="screen",
                 parameters=_parameter_entries(spec), remappings=list(spec.remappings))
            for spec in graph.nodes]


def _launch_setup(context: LaunchContext, scenario: str) -> list[GroupAction]:
    graph = build_graph(scenario, graph_args(context))
    scoped = [SetParameter(name="use_sim_time", value=graph.use_sim_time)]
    if graph.namespace:
        scoped.append(PushROSNamespace(graph.namespace))
    return [GroupAction([*scoped, *node_actions(graph)])]


def scenario_launch_description(scenario: str) -> LaunchDescription:
    """Launch arguments plus the scenario's nodes (built when the arguments are known)."""
    return LaunchDescription([*declare_arguments(),
                              OpaqueFunction(function=_launch_setup, args=[scenario])])
