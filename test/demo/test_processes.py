# SPDX-License-Identifier: Apache-2.0
"""The demo's node set comes from the shared description (ros/graph.py), plus its extras."""
from __future__ import annotations

import dataclasses
import time

from cosmos_policy_ros.ros.processes import node_argv
from cosmos_policy_ros.demo.config import DemoConfig
from cosmos_policy_ros.demo.processes import GraphOptions, NodeProcesses, demo_graph
from cosmos_policy_ros.demo.setting import Setting
from cosmos_policy_ros.ros.graph import GraphArgs, NodeKind, NodeSpec, build_graph

PRESET = str(DemoConfig.resolve("config/demo/sim_arm_32.yaml"))


def test_policy_setting_is_the_sim_demo_graph_with_the_settings_parameters():
    setting = Setting("plan", PRESET, 0.25, 10.0, checkpoint="/ckpt", num_candidates=8)
    graph = demo_graph(setting.graph_options())
    shared = build_graph("sim_demo", GraphArgs(robot=PRESET, checkpoint="/ckpt", use_sim_time=True))
    assert [n.name for n in graph.nodes] == [n.name for n in shared.nodes]
    assert graph.use_sim_time
    policy = graph.node("policy_node")
    assert policy.parameters["planning.num_candidates"] == 8 and policy.parameters["checkpoint"] == "/ckpt"
    assert policy.remappings == shared.node("policy_node").remappings
    assert graph.node("sim_arm").parameters["real_time_factor"] == 0.25
    assert graph.node("expert_teleop").parameters["enabled"] is False
    argv = node_argv(graph.node("command_arbiter"), graph)
    assert "use_sim_time:=true" in argv and "start_mode:=\"hold\"" in argv


def test_collection_setting_adds_recorder_and_noisy_expert_and_drops_the_policy():
    setting = Setting("collect", PRESET, 1.0, 10.0, record_dir="/bags", noise={"detour_probability": 0.5},
                      expert_speed_mps=0.15)
    graph = demo_graph(setting.graph_options())
    names = [n.name for n in graph.nodes]
    assert "policy_node" not in names and {"recorder", "expert_noisy", "expert_teleop", "sim_arm"} <= set(names)
    noisy = graph.node("expert_noisy")
    assert noisy.parameters["noise.detour_probability"] == 0.5 and noisy.parameters["enabled"] is False
    assert graph.node("recorder").parameters["output_dir"] == "/bags"
    assert noisy.parameters["speed_mps"] == graph.node("expert_teleop").parameters["speed_mps"] == 0.15
    assert node_argv(noisy, graph)[2] == graph.node("expert_teleop").kind.module


def test_graph_options_without_extras_have_no_recorder():
    graph = demo_graph(GraphOptions(preset=PRESET, checkpoint="/c"))
    assert "recorder" not in [n.name for n in graph.nodes]


def test_status_report_names_each_node_state_and_the_end_of_its_log(tmp_path):
    """What a failed demo setting reports (run_setting adds it to the error): CI keeps no log folder."""
    graph = build_graph("sim_demo", GraphArgs(robot=PRESET, use_sim_time=True))
    broken = NodeSpec(NodeKind("sim_arm", "sim_arm_node", "cosmos_policy_ros.no_such_node_module"), {})
    processes = NodeProcesses(dataclasses.replace(graph, nodes=(broken,)), tmp_path)
    with processes:
        deadline = time.monotonic() + 60.0
        while ") running;" in (report := processes.status_report()) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert "--- sim_arm (pid " in report and "exited with code 1" in report
    assert "No module named cosmos_policy_ros.no_such_node_module" in report  # the log's last line
