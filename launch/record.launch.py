# SPDX-License-Identifier: Apache-2.0
"""policy_node + command_arbiter + recorder_node (rosbag2 MCAP, one bag per episode).

    ros2 launch cosmos_policy_ros record.launch.py preset:=sim_arm namespace:= use_sim_time:=false

The node set comes from cosmos_policy_ros/ros/graph.py (the same one `cosmos-policy up record` starts);
`ros2 launch cosmos_policy_ros record.launch.py --show-args` lists and describes every argument.
"""
from cosmos_policy_ros.ros.graph_launch import scenario_launch_description


def generate_launch_description():
    return scenario_launch_description("record")
