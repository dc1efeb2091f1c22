# SPDX-License-Identifier: Apache-2.0
"""policy_node refuses, at configure, a checkpoint trained at another image size than its preset
feeds the model, and says so with both sizes (a tiny 32 px checkpoint on sim_arm's 224 px)."""
from __future__ import annotations

import pytest

from cosmos_policy_ros.presets import load_preset
from cosmos_policy_ros.serving.random_model import RandomInit, random_model

rclpy = pytest.importorskip("rclpy", reason="needs the ROS 2 Python wheels")
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from cosmos_policy_ros.ros.policy_node import PolicyNode  # noqa: E402


@pytest.fixture
def tiny_checkpoint(tmp_path):
    """A tiny model laid out for sim_arm's cameras and joints, trained (saved) at 32 px."""
    sim_arm = load_preset("sim_arm")
    served = random_model(RandomInit("tiny", (0.0,) * sim_arm.num_joints, 0.005), sim_arm, "cpu", "float32")
    assert (served.model.config.layout.image_height, served.model.config.layout.image_width) == (32, 32)
    return served.model.save_pretrained(tmp_path / "tiny_32")


@pytest.mark.ros
def test_configure_fails_naming_the_checkpoint_and_preset_image_sizes(ros_domain, tiny_checkpoint):
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain.domain_id)
    node = PolicyNode(context=context, parameter_overrides=[
        Parameter("robot", value="sim_arm"), Parameter("checkpoint", value=str(tiny_checkpoint)),
        Parameter("autostart", value=False), Parameter("device", value="cpu")])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        reason = node._reason
    finally:
        node.close()
        node.destroy_node()
        context.try_shutdown()
    assert reason.startswith("configure failed: model layout does not fit robot preset 'sim_arm'")
    assert "the checkpoint's image size is 32x32" in reason and "feed the model 224x224" in reason

