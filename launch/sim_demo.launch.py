# SPDX-License-Identifier: Apache-2.0
"""policy_node + command_arbiter + the MuJoCo sim arm (+ the scripted expert teleoperator).

    ros2 launch cosmos_policy_ros sim_demo.launch.py preset:=sim_arm namespace:= use_sim_time:=false

The node set comes from cosmos_policy_ros/ros/graph.py (the same one `cosmos-policy up sim_demo` starts);
`ros2 launch cosmos_policy_ros sim_demo.launch.py --show-args` lists and describes every argument.
"""
from cosmos_policy_ros.demo.config import DemoConfig
from cosmos_policy_ros.ros.graph_launch import scenario_launch_description


def generate_launch_description():
    # No robot chosen: the shipped demo (config/demo/demo.yaml), as `cosmos-policy up sim_demo` runs it.
    return scenario_launch_description("sim_demo", DemoConfig.from_yaml().scenario_defaults())
