# SPDX-License-Identifier: Apache-2.0
"""The Humble path of the parameter-callback shim, on real rclpy.

Humble's rclpy (3.3.x, branch humble of ros2/rclpy) has no ``add_post_set_parameters_callback``;
a node class without it stands in for Humble's, everything else is the installed rclpy.
"""
from __future__ import annotations

import pytest

rclpy = pytest.importorskip("rclpy", reason="needs the ROS 2 Python wheels")

from rcl_interfaces.msg import SetParametersResult  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from cosmos_policy_ros.ros.compat import add_parameter_callbacks  # noqa: E402

pytestmark = pytest.mark.ros


class HumbleNode(Node):
    """rclpy's Node as Humble has it: no post-set callbacks."""

    def __getattribute__(self, name: str):
        if name == "add_post_set_parameters_callback":
            raise AttributeError(name)
        return super().__getattribute__(name)


@pytest.mark.parametrize("node_class", [Node, HumbleNode], ids=["jazzy_and_later", "humble"])
def test_apply_runs_only_for_accepted_changes(node_class, ros_domain):
    context = rclpy.Context()
    rclpy.init(context=context)
    node = node_class("compat_probe", context=context)
    applied: list[str] = []
    try:
        node.declare_parameter("instruction", "")
        add_parameter_callbacks(
            node, lambda ps: SetParametersResult(successful=all(p.value != "bad" for p in ps), reason="bad"),
            lambda ps: applied.extend(p.value for p in ps))
        assert hasattr(node, "add_post_set_parameters_callback") == (node_class is Node)
        assert node.set_parameters([Parameter("instruction", value="fold")])[0].successful
        assert not node.set_parameters([Parameter("instruction", value="bad")])[0].successful
        assert applied == ["fold"] and node.get_parameter("instruction").value == "fold"
    finally:
        node.destroy_node()
        context.try_shutdown()
