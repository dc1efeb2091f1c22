# SPDX-License-Identifier: Apache-2.0
"""The shared node-set description, and that both starters (launch files, ``up``) are built from it."""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest
import ros2_kit
import yaml

from cosmos_policy_ros.ros.processes import graph_children
from cosmos_policy_ros.demo.config import DemoConfig
from cosmos_policy_ros.ros import graph
from cosmos_policy_ros.ros.graph import SCENARIOS, GraphArgs, build_graph

REPO = Path(__file__).resolve().parents[2]
LAUNCH_FILES = sorted((REPO / "launch").glob("*.launch.py"))


def names(g) -> list[str]:
    return [n.name for n in g.nodes]


def test_scenarios_start_the_documented_nodes():
    assert names(build_graph("bringup")) == ["policy_node", "command_arbiter"]
    assert names(build_graph("sim_demo")) == ["policy_node", "command_arbiter", "sim_arm", "expert_teleop"]
    assert names(build_graph("sim_demo", GraphArgs(with_expert=False)))[-1] == "sim_arm"
    assert names(build_graph("record")) == ["policy_node", "command_arbiter", "recorder"]


def test_arbiter_is_wired_to_the_preset_topics():
    aloha = build_graph("bringup", GraphArgs(robot="aloha"))
    remaps = dict(aloha.node("command_arbiter").remappings)
    assert remaps == {"action_chunk": "policy_node/action_chunk"}  # identity remaps are left out
    ur = build_graph("sim_demo", GraphArgs(robot="ur")).node("sim_arm")
    assert dict(ur.remappings) == {"/arm_controller/joint_trajectory": "command_arbiter/trajectory"}


def test_every_argument_reaches_its_node():
    g = build_graph("record", GraphArgs(robot="aloha", checkpoint="/ckpt", planning_checkpoint="/plan",
                                        instruction="fold", device="cuda:1", dtype="bfloat16", autostart=False,
                                        use_sim_time=True, namespace="lab",
                                        extra_params={"command_arbiter": {"shadow_mode": True}}))
    policy = g.node("policy_node").parameters
    assert {k: policy[k] for k in ("robot", "checkpoint", "planning_checkpoint", "instruction", "device",
                                   "dtype", "autostart", "use_sim_time")} == {
        "robot": "aloha", "checkpoint": "/ckpt", "planning_checkpoint": "/plan", "instruction": "fold",
        "device": "cuda:1", "dtype": "bfloat16", "autostart": False, "use_sim_time": True}
    assert g.node("command_arbiter").parameters["shadow_mode"] is True
    assert all(n.parameters["robot"] == "aloha" and n.parameters["use_sim_time"] is True for n in g.nodes)
    assert (g.namespace, g.preset.num_joints, g.fully_qualified_name(g.node("recorder"))) == ("lab", 14,
                                                                                              "/lab/recorder")


def test_unchosen_arguments_leave_the_files_in_charge():
    policy = build_graph("bringup").node("policy_node").parameters
    assert (policy["checkpoint"], policy["device"], policy["autostart"]) == ("", "cpu", True)
    assert "planning_checkpoint" not in policy  # never set unless chosen


def test_precedence_shipped_then_user_file_then_arguments(tmp_path):
    """Shipped config/<node>.yaml < the user's params_file (any section rcl would apply) < arguments,
    in the root namespace and under one (the shipped node-name keys would not match /lab/...)."""
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({
        "/**": {"ros__parameters": {"device": "cuda", "seed": 3}},
        "policy_node": {"ros__parameters": {"dtype": "float16", "timing": {"margin_s": 0.2}}},
        "/lab/policy_node": {"ros__parameters": {"dtype": "bfloat16"}},
        "/other/command_arbiter": {"ros__parameters": {"shadow_mode": True}},
    }))
    for namespace, dtype in (("", "float16"), ("lab", "bfloat16")):
        g = build_graph("bringup", GraphArgs(params_file=str(mine), namespace=namespace, checkpoint="/c",
                                             device="cuda:2"))
        policy = g.node("policy_node").parameters
        assert policy["seed"] == 3 and policy["dtype"] == dtype          # user file beats shipped
        assert policy["timing.margin_s"] == (0.2 if not namespace else 0.1)
        assert policy["device"] == "cuda:2" and policy["checkpoint"] == "/c"  # arguments beat both
        assert policy["observation.max_age_s"] == 0.5                     # shipped, under any namespace
        assert g.node("command_arbiter").parameters["shadow_mode"] is False


def test_sim_demo_defaults_to_the_shipped_demo():
    """Nothing chosen: config/demo/demo.yaml's model, sim arm, scene and sim-time pacing."""
    demo = DemoConfig.from_yaml()
    g = build_graph("sim_demo", defaults=demo.scenario_defaults())
    policy = g.node("policy_node").parameters
    assert Path(policy["checkpoint"]) == DemoConfig.resolve(demo.checkpoint)
    assert (Path(policy["checkpoint"]) / "model.safetensors").is_file()
    sim = g.node("sim_arm").parameters
    assert (sim["scene"], sim["real_time_factor"]) == (str(DemoConfig.resolve(demo.scene)), demo.real_time_factor_n1)
    assert g.use_sim_time and all(n.parameters["use_sim_time"] is True for n in g.nodes)
    assert g.preset.cameras[0].height == 32
    chosen = build_graph("sim_demo", GraphArgs(robot="sim_arm"), demo.scenario_defaults())
    assert chosen.node("policy_node").parameters["checkpoint"] == ""  # not trained for a chosen robot
    assert chosen.use_sim_time is False and "real_time_factor" not in chosen.node("sim_arm").parameters


def test_parameter_file_is_typed_and_reaches_exactly_one_node(tmp_path):
    spec = build_graph("bringup", GraphArgs(instruction="true", checkpoint="1.0")).node("policy_node")
    path = graph.write_parameter_file(spec, tmp_path)
    body = yaml.safe_load(path.read_text())["/**"]["ros__parameters"]
    assert body["instruction"] == "true" and body["checkpoint"] == "1.0"  # strings stay strings
    assert graph.flatten_parameters(body) == dict(spec.parameters)


@pytest.mark.parametrize("scenario, args, match", [
    ("demo", GraphArgs(), "scenario='demo'"),
    ("bringup", GraphArgs(robot="no_such_robot"), "unknown robot preset"),
    ("bringup", GraphArgs(extra_params={"sim_arm": {"seed": 1}}), r"\['sim_arm'\]"),
])
def test_bad_arguments_are_rejected(scenario, args, match):
    with pytest.raises(ValueError, match=match):
        build_graph(scenario, args)


def test_bad_namespace_is_rejected():
    with pytest.raises(ValueError, match="namespace"):
        GraphArgs(namespace="robot 1")


def test_node_modules_match_the_console_scripts_in_setup_py():
    """up runs `python -m <module>`, launch runs the console script: both must be the same code."""
    tree = ast.parse((REPO / "setup.py").read_text())
    scripts = next(ast.literal_eval(kw.value)["console_scripts"] for node in ast.walk(tree)
                   if isinstance(node, ast.Call) for kw in node.keywords if kw.arg == "entry_points")
    entry_points = dict(line.replace(" ", "").split("=") for line in scripts)
    for kind in graph.NODE_KINDS:
        assert entry_points[kind.executable] == f"{kind.module}:main"


def test_graph_imports_neither_rclpy_nor_launch():
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(Path(graph.__file__).read_text()))
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(ast.parse(Path(graph.__file__).read_text()))
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"rclpy", "launch", "launch_ros"}


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_files_only_delegate_to_the_graph(path):
    """Valid Python that imports graph_launch (and, for sim_demo, the demo's defaults, which ros/
    may not read itself) and that builds no Node itself."""
    tree = ast.parse(path.read_text(), filename=str(path))
    imports = [(n.module, [a.name for a in n.names]) for n in ast.walk(tree)
               if isinstance(n, (ast.Import, ast.ImportFrom))]
    defaults = [("cosmos_policy_ros.demo.config", ["DemoConfig"])] if path.name == "sim_demo.launch.py" else []
    assert imports == [*defaults, ("cosmos_policy_ros.ros.graph_launch", ["scenario_launch_description"])]
    [function] = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert function.name == "generate_launch_description"
    [returned] = [n.value for n in ast.walk(function) if isinstance(n, ast.Return)]
    assert returned.func.id == "scenario_launch_description" and returned.args[0].value in SCENARIOS


def test_every_scenario_has_a_launch_file():
    assert sorted(p.name for p in LAUNCH_FILES) == sorted(f"{s}.launch.py" for s in SCENARIOS)


def test_launch_helper_takes_its_nodes_from_the_graph():
    source = (REPO / "cosmos_policy_ros/ros/graph_launch.py").read_text()
    tree = ast.parse(source)
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert "build_graph" in calls
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert not strings & {k.executable for k in graph.NODE_KINDS}  # no node list of its own


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_launch_description_matches_up(scenario):
    if importlib.util.find_spec("launch_ros") is None:  # not on PyPI: a ROS 2 distro or CI's kit has it
        pytest.skip(ros2_kit.missing_reason() or "launch_ros is not importable")
    from launch import LaunchContext
    from launch.actions import GroupAction, OpaqueFunction
    from launch_ros.actions import Node

    spec = importlib.util.spec_from_file_location(scenario, REPO / f"launch/{scenario}.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    context = LaunchContext()
    context.launch_configurations.update({"robot": "aloha", "namespace": "lab"})
    for entity in description.entities:
        if not isinstance(entity, OpaqueFunction):
            entity.visit(context)  # applies the argument defaults
    [opaque] = [e for e in description.entities if isinstance(e, OpaqueFunction)]
    [group] = opaque.execute(context)
    assert isinstance(group, GroupAction)
    launched = [(e.node_package, e.node_executable) for e in group.get_sub_entities() if isinstance(e, Node)]
    started = build_graph(scenario, GraphArgs(robot="aloha", namespace="lab"))
    assert launched == [("cosmos_policy_ros", n.kind.executable) for n in started.nodes]
    assert [c.name for c in graph_children(started)] == [n.name for n in started.nodes]
