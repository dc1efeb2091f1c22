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

What a scenario runs when the user names no robot comes in as :class:`ScenarioDefaults` from the
caller (``sim_demo``: the showcase demo's, ``demo.config.DemoConfig.scenario_defaults``): ``ros/``
never reads the demo's configuration itself.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from cosmos_policy_ros.presets import CONFIG_DIR, RobotPreset, load_preset
from cosmos_policy_ros.ros.dds_env import DEFAULT_DISCOVERY_RANGE, DISCOVERY_RANGE_VAR

PACKAGE = "cosmos_policy_ros"
SCENARIOS = ("bringup", "sim_demo", "record")
DEFAULT_ROBOT = "sim_arm"

ParamValue = Union[bool, int, float, str, list]
WILDCARD_SECTION = "/**"
# MuJoCo renders offscreen through EGL unless the user chose a backend: sim_arm's cameras on a lab
# PC reached over ssh, where there is no display.
HEADLESS_GL = ("MUJOCO_GL", "egl")


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
ARBITER_CHUNK_TOPIC = "action_chunk"
POLICY_CHUNK_TOPIC = f"{POLICY.name}/action_chunk"  # policy_node's ~/action_chunk, namespace-relative
SIM_CONTROLLER_TOPIC = "/arm_controller/joint_trajectory"
JOINT_STATES_TOPIC = "joint_states"
TELEOP_TOPIC = "teleop/joint_trajectory"


@dataclass(frozen=True)
class GraphArgs:
    """What a user chooses when starting a scenario (the launch arguments / ``up`` options).

    Empty strings mean "not chosen": the node's own default, the shipped ``config/<node>.yaml``
    or the user's ``params_file`` decides. A chosen value wins over both files.

    Args:
        robot: robot preset name (``config/robots``) or preset YAML path; empty = the caller's
            :class:`ScenarioDefaults` (``sim_demo``: the demo of ``config/demo/demo.yaml``, its
            32 px sim arm, checkpoint, scene and sim pacing), else ``sim_arm``.
        checkpoint: policy checkpoint folder for policy_node.
        planning_checkpoint: checkpoint that scores plan-and-select candidates (policy_node).
        instruction: task instruction of policy_node.
        device / dtype: torch device and transformer dtype of policy_node.
        autostart: policy_node configures and activates itself (the arbiter still starts in HOLD).
        namespace: ROS namespace pushed onto every node; empty = root.
        use_sim_time: every node follows ``/clock``; None = the defaults decide (the sim_demo
            demo runs on sim time, everything else on wall time).
        with_expert: sim_demo also starts the scripted expert teleoperator.
        params_file: a ROS parameter YAML for every node: wins over the shipped defaults, loses
            to the other arguments. Sections apply as rcl applies them (``/**``, node name, ...).
        extra_params: ``{node name: {parameter: value}}`` overrides, applied last.
    """

    robot: str = ""
    checkpoint: str = ""
    planning_checkpoint: str = ""
    instruction: str = ""
    device: str = ""
    dtype: str = ""
    autostart: bool = True
    namespace: str = ""
    use_sim_time: bool | None = None
    with_expert: bool = True
    params_file: str = ""
    extra_params: Mapping[str, Mapping[str, ParamValue]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.namespace and not all(part.isidentifier() for part in self.namespace.strip("/").split("/")):
            raise ValueError(f"GraphArgs.namespace={self.namespace!r} is not a valid ROS namespace")
        if self.params_file and not Path(self.params_file).is_file():
            raise ValueError(f"GraphArgs.params_file={self.params_file!r} is not a file")


@dataclass(frozen=True)
class ScenarioDefaults:
    """What a scenario runs when the user chose no robot (passed in by the caller that owns it).

    Args:
        robot: robot preset name or YAML path.
        checkpoint: policy checkpoint folder; empty = none.
        use_sim_time: the nodes follow ``/clock`` unless the user chose otherwise.
        sim_params: parameters of the sim arm node (scene, pacing, camera rate).
    """

    robot: str
    checkpoint: str = ""
    use_sim_time: bool = False
    sim_params: Mapping[str, ParamValue] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeSpec:
    """One process of a scenario.

    Args:
        kind: which node (name, executable, module).
        parameters: every parameter the node gets, already merged (shipped file < user file <
            arguments < extra_params); one flat ``{dotted name: value}`` dict.
        remappings: (from, to) topic remaps; identities are left out.
    """

    kind: NodeKind
    parameters: Mapping[str, ParamValue]
    remappings: tuple[tuple[str, str], ...] = ()

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

    def fully_qualified_name(self, spec: NodeSpec) -> str:
        return _fully_qualified(self.namespace, spec.name)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for ``--print-config`` and comparisons)."""
        return {
            "scenario": self.scenario, "preset": self.preset.name, "namespace": self.namespace,
            "use_sim_time": self.use_sim_time,
            "nodes": [{"name": n.name, "executable": n.kind.executable, "parameters": dict(n.parameters),
                       "remappings": [list(r) for r in n.remappings]}
                      for n in self.nodes],
        }


def flatten_parameters(tree: Mapping[str, Any], prefix: str = "") -> dict[str, ParamValue]:
    """``{"limits": {"acceleration": [1.0]}}`` -> ``{"limits.acceleration": [1.0]}`` (as rcl names them)."""
    flat: dict[str, ParamValue] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_parameters(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _section_matches(section: str, fully_qualified_name: str) -> bool:
    """rcl's rule for a parameter file's node key: ``/**`` any namespaces, ``*`` one name, no
    leading slash = absolute (``policy_node`` is ``/policy_node``, not ``/lab/policy_node``)."""
    pattern = "/" + section.lstrip("/")
    regex = re.escape(pattern).replace(r"/\*\*", r"(/[^/]+)*").replace(r"\*", r"[^/]+")
    return re.fullmatch(regex, fully_qualified_name) is not None


def file_parameters(path: Path, fully_qualified_name: str) -> dict[str, ParamValue]:
    """The parameters a ROS parameter file gives the node ``fully_qualified_name``, sections in
    file order (later sections win, as rcl merges them)."""
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, Mapping):
        raise ValueError(f"parameter file {path} must map node names to ros__parameters")
    out: dict[str, ParamValue] = {}
    for section, body in data.items():
        if _section_matches(str(section), fully_qualified_name):
            if not isinstance(body, Mapping) or "ros__parameters" not in body:
                raise ValueError(f"parameter file {path}: section {section!r} has no ros__parameters")
            out.update(flatten_parameters(body["ros__parameters"] or {}))
    return out


def _remaps(*pairs: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((src, dst) for src, dst in pairs if src != dst)


def _fully_qualified(namespace: str, name: str) -> str:
    namespace = namespace.strip("/")
    return f"/{namespace}/{name}" if namespace else f"/{name}"


def _argument_parameters(kind: NodeKind, args: GraphArgs, robot: str, checkpoint: str,
                         use_sim_time: bool) -> dict[str, ParamValue]:
    """What the launch arguments set on ``kind`` (only arguments the user chose, plus robot/time)."""
    values: dict[str, ParamValue] = {"robot": robot, "use_sim_time": use_sim_time}
    if kind is POLICY:
        chosen = {"checkpoint": checkpoint, "planning_checkpoint": args.planning_checkpoint,
                  "instruction": args.instruction, "device": args.device, "dtype": args.dtype}
        values.update({k: v for k, v in chosen.items() if v})
        values["autostart"] = args.autostart
    return values


def _node(kind: NodeKind, args: GraphArgs, arguments: Mapping[str, ParamValue],
          remappings: tuple[tuple[str, str], ...] = ()) -> NodeSpec:
    fqn = _fully_qualified(args.namespace, kind.name)
    shipped = CONFIG_DIR / f"{kind.name}.yaml"
    merged: dict[str, ParamValue] = {}
    if shipped.is_file():
        merged.update(file_parameters(shipped, fqn))
    if args.params_file:
        merged.update(file_parameters(Path(args.params_file), fqn))
    merged.update(arguments)
    merged.update(flatten_parameters(args.extra_params.get(kind.name, {})))
    return NodeSpec(kind, merged, remappings)


def environment_defaults(scenario: str, env: Mapping[str, str]) -> dict[str, str]:
    """What our launchers (launch files, ``up``) add to ``env`` for ``scenario``'s nodes, because the
    user has not set it: DDS on this machine, and headless rendering for the sim arm (``sim_demo``).

    Raises:
        ValueError: unknown scenario.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario={scenario!r} must be one of {SCENARIOS}")
    defaults = [(DISCOVERY_RANGE_VAR, DEFAULT_DISCOVERY_RANGE)] + ([HEADLESS_GL] if scenario == "sim_demo" else [])
    return {name: value for name, value in defaults if name not in env}


def use_headless_rendering() -> None:
    """For a command that renders the sim in its own process: EGL unless the user chose a backend.
    MuJoCo picks its backend when it is first imported, so this runs before anything imports it."""
    os.environ.setdefault(*HEADLESS_GL)


def build_graph(scenario: str, args: GraphArgs | None = None,
                defaults: ScenarioDefaults | None = None) -> NodeGraph:
    """The node set of ``scenario`` for ``args`` (default: the sim arm preset, root namespace);
    ``defaults`` apply when ``args`` names no robot.

    Raises:
        ValueError: unknown scenario, unknown preset, or ``extra_params`` for a node that the
            scenario does not start.
    """
    args = args or GraphArgs()
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario={scenario!r} must be one of {SCENARIOS}")
    defaults = None if args.robot else defaults
    robot = defaults.robot if defaults else (args.robot or DEFAULT_ROBOT)
    checkpoint = args.checkpoint or (defaults.checkpoint if defaults else "")
    use_sim_time = args.use_sim_time if args.use_sim_time is not None else bool(defaults and defaults.use_sim_time)
    preset = load_preset(robot)

    def node(kind: NodeKind, remappings: tuple[tuple[str, str], ...] = (),
             **extra: ParamValue) -> NodeSpec:
        arguments = _argument_parameters(kind, args, robot, checkpoint, use_sim_time)
        return _node(kind, args, {**arguments, **extra}, remappings)

    nodes = [
        node(POLICY, _remaps((JOINT_STATES_TOPIC, preset.joint_states_topic))),
        # The arbiter reads the preset's state sources and command groups itself (ros/sinks.py).
        node(ARBITER, _remaps((ARBITER_CHUNK_TOPIC, POLICY_CHUNK_TOPIC), (TELEOP_TOPIC, preset.teleop_topic))),
    ]
    if scenario == "sim_demo":
        pacing = dict(defaults.sim_params) if defaults else {}
        nodes.append(node(SIM, _remaps((SIM_CONTROLLER_TOPIC, preset.controller_topic)), **pacing))
        if args.with_expert:
            nodes.append(node(EXPERT))
    elif scenario == "record":
        nodes.append(node(RECORDER))
    unknown = sorted(set(args.extra_params) - {n.name for n in nodes})
    if unknown:
        raise ValueError(f"extra_params name node(s) {unknown} that scenario {scenario} does not start; "
                         f"nodes: {[n.name for n in nodes]}")
    return NodeGraph(scenario, preset, args.namespace, use_sim_time, tuple(nodes))


def unflatten_parameters(flat: Mapping[str, ParamValue]) -> dict[str, Any]:
    """The inverse of :func:`flatten_parameters` (parameter files nest dotted names)."""
    tree: dict[str, Any] = {}
    for name, value in flat.items():
        *parents, leaf = name.split(".")
        branch = tree
        for part in parents:
            branch = branch.setdefault(part, {})
        branch[leaf] = value
    return tree


def write_parameter_file(spec: NodeSpec, directory: Path) -> Path:
    """``<directory>/<node>.yaml``: the node's merged parameters under ``/**`` (one file per node,
    so the wildcard reaches exactly that node, in any namespace). Typed by YAML, not guessed."""
    path = Path(directory) / f"{spec.name}.yaml"
    body = {WILDCARD_SECTION: {"ros__parameters": unflatten_parameters(spec.parameters)}}
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def share_path(relative_or_absolute: str) -> Path:
    """A param file path as ``up`` opens it: share-relative paths resolve against the package."""
    path = Path(relative_or_absolute)
    return path if path.is_absolute() else CONFIG_DIR.parent / path
