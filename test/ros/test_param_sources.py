# SPDX-License-Identifier: Apache-2.0
"""One source of truth per setting: every node parameter against the dataclass field it fills,
and every shipped config/<node>.yaml against both (issue 20).

Each node's ParamSpec table is walked: a parameter made by ``ParamSpec.of`` must carry exactly the
default, description and range of its field; any other parameter must be one of the node's own
(listed below, so a new literal parameter is a decision, not an accident). Then the objects a node
builds from its default parameters must equal those built from the dataclass defaults: a default
typed twice and drifted (``StitchConfig.min_seam_s`` 0.0 vs the node's 0.1) fails here.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="parameter tables need the ROS 2 Python wheels")

from cosmos_policy_ros.control.arbitration import Arbiter  # noqa: E402
from cosmos_policy_ros.presets import CONFIG_DIR, load_preset  # noqa: E402
from cosmos_policy_ros.ros.command_arbiter import ArbiterParams  # noqa: E402
from cosmos_policy_ros.ros.graph import file_parameters  # noqa: E402
from cosmos_policy_ros.ros.policy_node import PolicyNodeParams  # noqa: E402
from cosmos_policy_ros.ros.recorder_node import RecorderParams  # noqa: E402
from cosmos_policy_ros.serving.policy_runner import ModelSource  # noqa: E402
from cosmos_policy_ros.serving.random_model import RandomInit  # noqa: E402
from cosmos_policy_ros.settings import METADATA_KEY, parameter_value  # noqa: E402
from cosmos_policy_ros.sim.expert import ExpertConfig  # noqa: E402
from cosmos_policy_ros.sim.expert_teleop_node import TARGET_OFFSET_SHARE, ExpertTeleopParams  # noqa: E402
from cosmos_policy_ros.sim.sim_arm_node import SimArmParams  # noqa: E402
from cosmos_policy_ros.sim.trajectory_follower import FollowerConfig  # noqa: E402

# Parameters that fill no ROS-free config field: the node itself uses them (preset, topics, periods).
NODE_LEVEL = {
    PolicyNodeParams: {"robot", "allow_random_init", "instruction", "planning.budget_s", "imagination.tip_link",
                       "seed", "observation.parallel_cameras", "timing.idle_period_s", "status_period_s",
                       "autostart"},
    ArbiterParams: {"robot", "limits.urdf_path", "limits.robot_description_timeout_s", "watchdog.period_s",
                    "status_period_s"},
    SimArmParams: {"robot", "scene", "task", "seed", "real_time_factor", "joint_state_rate_hz", "camera_rate_hz",
                   "object_pose_rate_hz", "max_lag_s"},
    ExpertTeleopParams: {"robot", "task", "seed", "enabled", "control_rate_hz"},
    RecorderParams: {spec.name for spec in RecorderParams.SPECS},  # topics, queues and periods of the node
}
# The shipped YAML of a node, and the values in it that deliberately differ from the default.
SHIPPED = {PolicyNodeParams: "policy_node.yaml", ArbiterParams: "command_arbiter.yaml", RecorderParams: "recorder.yaml"}
SHIPPED_OVERRIDES = {
    "policy_node.yaml": {"planning.mode": "fast"},  # the launched graph scores with one future and one value
    "recorder.yaml": {"status_topic": "command_arbiter/status", "action_chunk_topic": "policy_node/action_chunk",
                      "plan_candidates_topic": "policy_node/plan_candidates"},  # relative: the launch namespace
}
PRESET = load_preset("sim_arm")
URDF = PRESET.urdf_path.read_text(encoding="utf-8")


@pytest.mark.parametrize("params", list(NODE_LEVEL), ids=lambda p: p.__name__)
def test_every_parameter_matches_the_field_it_fills(params) -> None:
    literal = set()
    for spec in params.SPECS:
        if spec.source is None:
            literal.add(spec.name)
            continue
        owner, name = spec.source
        field = {f.name: f for f in dataclasses.fields(owner)}[name]
        info = field.metadata[METADATA_KEY]
        where = f"{params.__name__} {spec.name} <- {owner.__name__}.{name}"
        assert spec.default == parameter_value(field.default), where
        assert (spec.description, spec.min_value, spec.max_value) == (info.description, info.min_value,
                                                                      info.max_value), where
        expected_choices = None if info.choices is None else tuple(parameter_value(c) for c in info.choices)
        assert spec.choices == expected_choices, where
    assert literal == NODE_LEVEL[params], f"{params.__name__}: literal (node-level) parameters changed"


def _assert_same_arbiter_config(built, expected) -> None:
    for field in dataclasses.fields(expected):
        got, want = getattr(built, field.name), getattr(expected, field.name)
        if field.name == "limits":
            for array in ("lower", "upper", "velocity", "acceleration"):
                np.testing.assert_array_equal(getattr(got, array), getattr(want, array), err_msg=array)
        else:
            assert got == want, field.name


def test_default_parameters_build_what_the_dataclass_defaults_build() -> None:
    """The node's defaults and the code's defaults are one and the same (test_expert relies on it)."""
    _assert_same_arbiter_config(ArbiterParams.from_dict({}).arbiter(PRESET, URDF).config,
                                Arbiter.from_settings(PRESET, URDF).config)
    policy = PolicyNodeParams.from_dict({})
    assert policy.model_source() == ModelSource()
    assert RandomInit(policy.random_init_preset, policy.random_init_action_center,
                      policy.random_init_action_half_range) == RandomInit()
    jump = PRESET.max_joint_jump_rad
    assert ExpertTeleopParams.from_dict({}).expert_config(jump) == ExpertConfig(
        max_target_offset_rad=TARGET_OFFSET_SHARE * jump)
    assert SimArmParams.from_dict({}).allow_partial_joints_goal == FollowerConfig().allow_partial_joints_goal


def test_every_shipped_node_yaml_is_checked() -> None:
    assert {p.name for p in CONFIG_DIR.glob("*.yaml")} == set(SHIPPED.values())


@pytest.mark.parametrize("params", list(SHIPPED), ids=lambda p: p.__name__)
def test_shipped_yaml_agrees_with_the_table_and_the_fields(params) -> None:
    file_name = SHIPPED[params]
    values = file_parameters(CONFIG_DIR / file_name, f"/{file_name.removesuffix('.yaml')}")
    specs = {spec.name: spec for spec in params.SPECS}
    unknown = sorted(set(values) - set(specs))
    assert not unknown, f"{file_name}: parameters no node declares: {unknown}"
    overrides = SHIPPED_OVERRIDES.get(file_name, {})
    for name, value in values.items():
        assert specs[name].check(value) is None, f"{file_name}: {specs[name].check(value)}"
        expected = overrides.get(name, specs[name].ros_default())
        assert value == expected, f"{file_name}: {name}={value!r}, the default is {specs[name].default!r}"
    node = params.from_dict(values)  # the YAML's values pass the dataclasses' own validation too
    if params is ArbiterParams:
        node.arbiter(PRESET, URDF)
    if params is PolicyNodeParams:
        node.model_source()
