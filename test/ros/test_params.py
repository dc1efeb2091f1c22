# SPDX-License-Identifier: Apache-2.0
"""Declarative parameters on a real in-process rclpy node: declare, describe, read, reject."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import ClassVar

import pytest

rclpy = pytest.importorskip("rclpy", reason="parameter tests need the ROS 2 Python wheels")

from rclpy.exceptions import InvalidParameterValueException  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from cosmos_policy_ros.ros.params import NodeParams, ParamSpec, declare_params, read_params  # noqa: E402

SPECS = (
    ParamSpec("rate_hz", 50.0, "Control timer rate [Hz].", min_value=1.0, max_value=500.0),
    ParamSpec("planning.num_candidates", 4, "Candidates sampled per chunk.", min_value=1, max_value=64),
    ParamSpec("planning.scoring", "average", "How value samples are aggregated.",
              choices=("average", "lcb", "majority_mean")),
    ParamSpec("joints", ("a", "b"), "Joints in model order.", read_only=True),
    ParamSpec("cameras", (), "Camera names.", read_only=True, array_type="string_array"),
    ParamSpec("shadow", False, "Publish to the shadow topic only."),
    ParamSpec("margin_s", 0.05, "Deadline margin [s].", min_value=0.0),
)


@dataclass(frozen=True)
class ExampleParams(NodeParams):
    SPECS: ClassVar[tuple[ParamSpec, ...]] = SPECS
    rate_hz: float
    planning_num_candidates: int
    planning_scoring: str
    joints: tuple[str, ...]
    cameras: tuple[str, ...]
    shadow: bool
    margin_s: float


@pytest.fixture
def make_node(ros_domain):
    """Builds nodes in a private rclpy context (no spinning needed for local parameter calls)."""
    context = rclpy.Context()
    rclpy.init(context=context)
    nodes: list[Node] = []

    def make(overrides: dict | None = None) -> Node:
        node = Node("param_test", context=context, parameter_overrides=[
            Parameter(name, value=value) for name, value in (overrides or {}).items()])
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.destroy_node()
    context.try_shutdown()


def test_declared_parameters_carry_description_range_and_read_only(make_node):
    node = make_node()
    declare_params(node, SPECS)
    rate = node.describe_parameter("rate_hz")
    assert rate.description == "Control timer rate [Hz]."
    assert (rate.floating_point_range[0].from_value, rate.floating_point_range[0].to_value) == (1.0, 500.0)
    candidates = node.describe_parameter("planning.num_candidates")
    assert (candidates.integer_range[0].from_value, candidates.integer_range[0].to_value) == (1, 64)
    assert node.describe_parameter("joints").read_only
    assert "lcb" in node.describe_parameter("planning.scoring").additional_constraints
    assert node.describe_parameter("margin_s").floating_point_range[0].to_value == math.inf


def test_read_params_returns_defaults_and_overrides(make_node):
    node = make_node({"rate_hz": 25.0, "cameras": ["wrist", "scene"]})
    declare_params(node, SPECS)
    values = read_params(node, SPECS)
    assert values["rate_hz"] == 25.0 and values["cameras"] == ["wrist", "scene"]
    assert values["planning.num_candidates"] == 4 and values["joints"] == ["a", "b"]
    params = ExampleParams.from_node(node)
    assert params.rate_hz == 25.0 and params.cameras == ("wrist", "scene")
    assert params.planning_scoring == "average"


@pytest.mark.parametrize("name, value, reason", [
    ("rate_hz", 0.5, "rate_hz"),
    ("planning.num_candidates", 65, "planning.num_candidates"),
    ("planning.scoring", "median", r"not one of \['average'"),
    ("margin_s", -0.1, "margin_s"),
    ("margin_s", float("nan"), "margin_s"),
])
def test_invalid_set_is_rejected_with_a_reason(make_node, name, value, reason):
    node = make_node()
    declare_params(node, SPECS)
    before = node.get_parameter(name).value
    [result] = node.set_parameters([Parameter(name, value=value)])
    assert not result.successful
    assert re.search(reason, result.reason), result.reason
    assert node.get_parameter(name).value == before


def test_valid_set_is_accepted_and_read_only_is_refused(make_node):
    node = make_node()
    declare_params(node, SPECS)
    [ok] = node.set_parameters([Parameter("planning.scoring", value="lcb")])
    assert ok.successful and node.get_parameter("planning.scoring").value == "lcb"
    [refused] = node.set_parameters([Parameter("joints", value=["x"])])
    assert not refused.successful and list(node.get_parameter("joints").value) == ["a", "b"]


def test_out_of_range_override_fails_the_declaration(make_node):
    node = make_node({"planning.scoring": "median"})
    with pytest.raises(InvalidParameterValueException, match="planning.scoring"):
        declare_params(node, SPECS)


def test_params_dataclass_without_ros():
    params = ExampleParams.from_dict({"rate_hz": 10.0, "planning.num_candidates": 8})
    assert params.rate_hz == 10.0 and params.planning_num_candidates == 8
    assert params.joints == ("a", "b")
    with pytest.raises(ValueError, match="planning.num_candidates=0 is below"):
        ExampleParams.from_dict({"planning_num_candidates": 0})
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['rate'\]"):
        ExampleParams.from_dict({"rate": 1.0})


@pytest.mark.parametrize("kwargs, match", [
    (dict(name="", default=1, description="x"), "name"),
    (dict(name="a", default=1, description=""), "description"),
    (dict(name="a", default=None, description="x"), "default=None"),
    (dict(name="a", default=5, description="x", max_value=4), "above max_value"),
    (dict(name="a", default="s", description="x", min_value=0), "numeric default"),
    (dict(name="a", default=1, description="x", min_value=2, max_value=1), "min_value=2 > max_value=1"),
    (dict(name="a", default=(), description="x"), "array_type"),
    (dict(name="a", default="b", description="x", choices=("c",)), "not one of"),
])
def test_inconsistent_spec_is_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ParamSpec(**kwargs)


def test_duplicate_names_are_rejected(make_node):
    with pytest.raises(ValueError, match="duplicate"):
        declare_params(make_node(), (SPECS[0], SPECS[0]))
