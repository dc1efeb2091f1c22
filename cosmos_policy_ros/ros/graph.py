# SPDX-License-Identifier: Apache-2.0
"""The node set of each scenario, as plain data: one description, two starters.

``launch/*.launch.py`` (for a user's ``ros2 launch``) and ``cosmos-policy up`` (subprocesses,
where ``ros2 launch`` is not installed) both build their processes from :func:`build_graph`, so
the two cannot drift apart. Topic wiring comes from the robot preset: nodes use fixed relative
names (``joint_states``, ``arm_controller/joint_trajectory``) and the graph remaps them to the
preset's topics. No rclpy, no launch import: this module is plain Python.

Scenarios:
    bringup   policy_node + command_arbiter, next to a real arm.
    sim_demo  bringup + sim_arm (the MuJoCo arm) + expert_teleop (scripted teleoperator).
    record    bringup + recorder (rosbag2 MCAP, one bag per episode).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from cosmos_policy_ros.presets import CONFIG_DIR, RobotPreset, load_preset

PACKAGE = "cosmos_policy_ros"
SCENARIOS = ("bringup", "sim_demo", "record")
DEFAULT_PRESET = "sim_arm"

ParamValue = Union[bool, int, float, str, list]


@dataclass(frozen=True)
class NodeKind:
    """What is fixed about one node: its name, executable, module and the names it uses."""

    name: str
    executable: str
    module: str


POLICY = NodeKind("policy_node", "policy_node", f"{PACKAGE}.ros.policy_node")
ARBITER = NodeKind("command_arbiter", "command_arbiter", f"{PACKAGE}.ros.command_arbiter")
SIM = NodeKind("sim_arm", "sim_arm_node", f"{PACKAGE}.sim.sim_arm_node")
EXPERT = NodeKind("expert_teleop", "expert_teleop_node", f"{PACKAGE}.sim.expert_teleop_node")
RECORDER = NodeKind("recorder", "recorder_node", f"{PACKAGE}.ros.recorder_node")
NODE_KINDS = (POLICY, ARBITER, SIM, EXPERT, RECORDER)

# Names the nodes use in code, remapped to the preset's topics.
ARBITER_CONTROLLER_TOPIC = "arm_controller/joint_trajectory"
SIM_CONTROLLER_TOPIC = "/arm_controller/joint_trajectory"
ARBITER_CHUNK_TOPIC = "action_chunk"
POLICY_CHUNK_TOPIC = f"{POLICY.name}/action_chunk"  # policy_node's ~/action_chunk, namespace-relative
JOINT_STATES_TOPIC = "joint_states"
TELEOP_TOPIC = "teleop/joint_trajectory"


@dataclass(frozen=True)
class GraphArgs:
    """What a user chooses when starting a scenario (the launch arguments / ``up`` options).

    Args:
        preset: robot preset name (``config/robots``) or preset YAML path.
        checkpoint: policy checkpoint folder for policy_node; empty = the node's default.
        namespace: ROS namespace pushed onto every node; empty = root.
        use_sim_time: every node follows ``/clock``.
        with_expert: sim_demo also starts the scripted expert teleoperator.
        params_file: an extra ROS parameter YAML given to every node (after the shipped ones).
        extra_params: ``{node name: {parameter: value}}`` overrides, applied last.
    """

    preset: str = DEFAULT_PRESET
    checkpoint: str = ""
    namespace: str = ""
    use_sim_time: bool = False
    with_expert: bool = True
    params_file: str = ""
    extra_params: Mapping[str, Mapping[str, ParamValue]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.preset:
            raise ValueError("GraphArgs.preset must name a robot preset")
        if self.namespace and not all(part.isidentifier() for part in self.namespace.strip("/").split("/")):
            raise ValueError(f"GraphArgs.namespace={self.namespace!r} is not a valid ROS namespace")


@dataclass(frozen=True)
class NodeSpec:
    """One process of a scenario.

    Args:
        kind: which node (name, executable, module).
        parameters: ``-p`` parameters, applied after ``param_files``.
        remappings: (from, to) topic remaps; identities are left out.
        param_files: parameter YAML paths relative to the package share folder (``config/...``),
            or absolute paths (a user's file).
    """

    kind: NodeKind
    parameters: Mapping[str, ParamValue]
    remappings: tuple[tuple[str, str], ...] = ()
    param_files: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.kind.name


@dataclass(frozen=True)
class NodeGraph:
    """A scenario's node set plus what applies to every node."""

    scenario: str
    preset: RobotPreset
    namespace: str
    use_sim_time: bool
    nodes: tuple[NodeSpec, ...]

    def node(self, name: str) -> NodeSpec:
        for spec in self.nodes:
            if spec.name == name:
                return spec
        raise KeyError(f"no node {name!r} in scenario {self.scenario}; nodes: {[n.name for n in self.nodes]}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for ``--print-config`` and comparisons)."""
        return {
            "scenario": self.scenario, "preset": self.preset.name, "namespace": self.namespace,
            "use_sim_time": self.use_sim_time,
            "nodes": [{"name": n.name, "executable": n.kind.executable, "parameters": dict(n.parameters),
                       "remappings": [list(r) for r in n.remappings], "param_files": list(n.param_files)}
                      for n in self.nodes],
        }


def _remaps(*pairs: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((src, dst) for src, dst in pairs if src != dst)


def _shipped_param_files(kind: NodeKind) -> tuple[str, ...]:
    """``config/<node>.yaml`` when the package ships one (documented defaults users edit)."""
    relative = f"config/{kind.name}.yaml"
    return (relative,) if (CONFIG_DIR.parent / relative).is_file() else ()


def _node(kind: NodeKind, args: GraphArgs, parameters: Mapping[str, ParamValue],
          remappings: tuple[tuple[str, str], ...] = ()) -> NodeSpec:
    files = _shipped_param_files(kind) + ((args.params_file,) if args.params_file else ())
    merged = {"robot": args.preset, **parameters, **args.extra_params.get(kind.name, {})}
    return NodeSpec(kind, merged, remappings, files)


def _bringup_nodes(preset: RobotPreset, args: GraphArgs) -> list[NodeSpec]:
    policy_params = {"checkpoint": args.checkpoint} if args.checkpoint else {}
    return [
        _node(POLICY, args, policy_params, _remaps((JOINT_STATES_TOPIC, preset.joint_states_topic))),
        _node(ARBITER, args, {}, _remaps(
            (ARBITER_CONTROLLER_TOPIC, preset.controller_topic),
            (ARBITER_CHUNK_TOPIC, POLICY_CHUNK_TOPIC),
            (JOINT_STATES_TOPIC, preset.joint_states_topic),
            (TELEOP_TOPIC, preset.teleop_topic),
        )),
    ]


def build_graph(scenario: str, args: GraphArgs | None = None) -> NodeGraph:
    """The node set of ``scenario`` for ``args`` (default: the sim arm preset, root namespace).

    Raises:
        ValueError: unknown scenario, unknown preset, or ``extra_params`` for a node that the
            scenario does not start.
    """
    args = args or GraphArgs()
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario={scenario!r} must be one of {SCENARIOS}")
    preset = load_preset(args.preset)
    nodes = _bringup_nodes(preset, args)
    if scenario == "sim_demo":
        nodes.append(_node(SIM, args, {}, _remaps((SIM_CONTROLLER_TOPIC, preset.controller_topic))))
        if args.with_expert:
            nodes.append(_node(EXPERT, args, {}))
    elif scenario == "record":
        nodes.append(_node(RECORDER, args, {}))
    unknown = sorted(set(args.extra_params) - {n.name for n in nodes})
    if unknown:
        raise ValueError(f"extra_params name node(s) {unknown} that scenario {scenario} does not start; "
                         f"nodes: {[n.name for n in nodes]}")
    return NodeGraph(scenario, preset, args.namespace, args.use_sim_time, tuple(nodes))


def share_path(relative_or_absolute: str) -> Path:
    """A param file path as ``up`` opens it: share-relative paths resolve against the package."""
    path = Path(relative_or_absolute)
    return path if path.is_absolute() else CONFIG_DIR.parent / path
