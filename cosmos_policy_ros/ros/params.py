# SPDX-License-Identifier: Apache-2.0
"""Declarative node parameters: one table of :class:`ParamSpec` per node.

Modelled on joint_trajectory_controller's parameter YAML: every parameter has a default, a
description, an optional range or choice list, and ``read_only`` for values that fix shapes
(joints, cameras, checkpoint). :func:`declare_params` turns the table into
``declare_parameter`` calls with a ``ParameterDescriptor`` (so ``ros2 param describe`` shows the
description and range) and registers a validation callback that rejects bad values with a reason.

A parameter that fills a field of a ROS-free config dataclass takes its default, description and
range from that field (:meth:`ParamSpec.of`, fields declared with ``settings.setting``), so a
setting is written once; only node-level parameters (robot, periods, topics) are typed here.

Nodes read their parameters into a plain frozen dataclass (see :class:`NodeParams`), so the logic
behind a node can be built and tested from a dict, without a node::

    @dataclass(frozen=True)
    class ArbiterParams(NodeParams):
        SPECS: ClassVar[tuple[ParamSpec, ...]] = (
            ParamSpec("rate_hz", 50.0, "Control timer rate [Hz].", min_value=1.0),
            ParamSpec("planning.num_candidates", 1, "Candidates per chunk.", min_value=1),
        )
        rate_hz: float
        planning_num_candidates: int   # dots become underscores

    params = ArbiterParams.from_node(node)          # in the node
    params = ArbiterParams.from_dict({"rate_hz": 10.0})  # in a test
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, TypeVar

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.node import Node
from rclpy.parameter import Parameter

from cosmos_policy_ros.settings import parameter_value, setting_of

# Bounds used when a spec gives only one side of an integer range (IntegerRange is int64).
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# rclpy cannot infer a parameter type from an empty list; these name the array type instead.
ARRAY_TYPES = {
    "bool_array": Parameter.Type.BOOL_ARRAY,
    "int_array": Parameter.Type.INTEGER_ARRAY,
    "double_array": Parameter.Type.DOUBLE_ARRAY,
    "string_array": Parameter.Type.STRING_ARRAY,
}

Validator = Callable[[list[Parameter]], SetParametersResult]
ParamsT = TypeVar("ParamsT", bound="NodeParams")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_array(value: object) -> bool:
    return isinstance(value, (list, tuple))


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter.

    Args:
        name: parameter name; dots group parameters (``planning.num_candidates``).
        default: default value; its type is the parameter's type (a list/tuple is an array). An empty
            sequence needs ``array_type`` because ROS cannot infer the element type.
        description: what the parameter does, shown by ``ros2 param describe``.
        read_only: True for values that must not change after start (shapes, checkpoint).
        min_value: inclusive lower bound (numbers only).
        max_value: inclusive upper bound (numbers only).
        choices: the allowed values (scalars only).
        array_type: ``bool_array`` | ``int_array`` | ``double_array`` | ``string_array``; only for
            an empty default.
        source: (dataclass, field) this parameter fills, when it was made by :meth:`of`.
    """

    name: str
    default: Any
    description: str
    read_only: bool = False
    min_value: float | int | None = None
    max_value: float | int | None = None
    choices: tuple[Any, ...] | None = None
    array_type: str | None = None
    source: tuple[type, str] | None = dataclasses.field(default=None, compare=False)

    @classmethod
    def of(cls, name: str, owner: type, field_name: str, read_only: bool = True) -> "ParamSpec":
        """The parameter that fills ``owner.field_name``: default, description and range come from the
        field (``settings.setting``), so they are never typed twice."""
        default, info = setting_of(owner, field_name)
        choices = None if info.choices is None else tuple(parameter_value(c) for c in info.choices)
        return cls(name, parameter_value(default), info.description, read_only=read_only,
                   min_value=info.min_value, max_value=info.max_value, choices=choices, source=(owner, field_name))

    def __post_init__(self) -> None:
        if not self.name or self.name.startswith(".") or self.name.endswith("."):
            raise ValueError(f"ParamSpec.name={self.name!r} must be a non-empty dotted name")
        if not self.description:
            raise ValueError(f"ParamSpec {self.name}: description must not be empty")
        if self.default is None:
            raise ValueError(f"ParamSpec {self.name}: default=None has no ROS parameter type")
        self._check_spec_consistency()
        reason = self.check(self.default)
        if reason:
            raise ValueError(f"ParamSpec {self.name}: default {reason}")

    def _check_spec_consistency(self) -> None:
        bounded = self.min_value is not None or self.max_value is not None
        if bounded and not _is_number(self.default):
            raise ValueError(f"ParamSpec {self.name}: min_value/max_value need a numeric default, "
                             f"got {self.default!r}")
        if (self.min_value is not None and self.max_value is not None
                and self.min_value > self.max_value):
            raise ValueError(f"ParamSpec {self.name}: min_value={self.min_value} > "
                             f"max_value={self.max_value}")
        if self.choices is not None and _is_array(self.default):
            raise ValueError(f"ParamSpec {self.name}: choices apply to scalar parameters only")
        if self.array_type is not None and self.array_type not in ARRAY_TYPES:
            raise ValueError(f"ParamSpec {self.name}: array_type={self.array_type!r} must be one "
                             f"of {sorted(ARRAY_TYPES)}")
        if _is_array(self.default) and not self.default and self.array_type is None:
            raise ValueError(f"ParamSpec {self.name}: an empty default needs array_type")

    @property
    def field_name(self) -> str:
        """The dataclass field that holds this parameter (dots become underscores)."""
        return self.name.replace(".", "_")

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable for this parameter, or None when it is."""
        if _is_number(value) and isinstance(value, float) and math.isnan(value):
            return f"{self.name}={value!r} is NaN"
        if self.min_value is not None and _is_number(value) and value < self.min_value:
            return f"{self.name}={value!r} is below min_value={self.min_value}"
        if self.max_value is not None and _is_number(value) and value > self.max_value:
            return f"{self.name}={value!r} is above max_value={self.max_value}"
        if self.choices is not None and value not in self.choices:
            return f"{self.name}={value!r} is not one of {list(self.choices)}"
        return None

    def descriptor(self) -> ParameterDescriptor:
        """The ParameterDescriptor that publishes description, range and read_only to tools."""
        descriptor = ParameterDescriptor(description=self.description, read_only=self.read_only)
        if self.choices is not None:
            descriptor.additional_constraints = f"one of {list(self.choices)}"
        if self.min_value is None and self.max_value is None:
            return descriptor
        if isinstance(self.default, int):
            descriptor.integer_range = [IntegerRange(
                from_value=int(self.min_value) if self.min_value is not None else INT64_MIN,
                to_value=int(self.max_value) if self.max_value is not None else INT64_MAX,
                step=0)]
        else:
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(self.min_value) if self.min_value is not None else -math.inf,
                to_value=float(self.max_value) if self.max_value is not None else math.inf,
                step=0.0)]
        return descriptor

    def ros_default(self) -> Any:
        """The value handed to ``declare_parameter`` (a list, or a type for an empty array)."""
        if _is_array(self.default):
            return list(self.default) if self.default else ARRAY_TYPES[self.array_type]
        return self.default


def make_validator(specs: Iterable[ParamSpec]) -> Validator:
    """An on-set-parameters callback that rejects values outside a spec's range or choices.

    Parameters not in ``specs`` are accepted (other callbacks or descriptors judge them).
    """
    by_name = {spec.name: spec for spec in specs}

    def validate(params: list[Parameter]) -> SetParametersResult:
        for param in params:
            spec = by_name.get(param.name)
            reason = spec.check(param.value) if spec is not None else None
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    return validate


def declare_params(node: Node, specs: Sequence[ParamSpec]) -> None:
    """Declare every spec on ``node`` with its descriptor and validate values on every set.

    The validation callback is registered first, so an out-of-range override given on the
    command line (``-p name:=value``) fails the declaration with the reason instead of starting
    a node with a bad value.

    Raises:
        rclpy.exceptions.InvalidParameterValueException: an override is rejected.
    """
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"declare_params: duplicate parameter names {duplicates}")
    node.add_on_set_parameters_callback(make_validator(specs))
    for spec in specs:
        node.declare_parameter(spec.name, spec.ros_default(), spec.descriptor())


def _plain(value: Any) -> Any:
    """Parameter values as plain Python (array.array / numpy arrays become lists)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return value
    return list(value)


def read_params(node: Node, specs: Sequence[ParamSpec]) -> dict[str, Any]:
    """Current values of ``specs`` on ``node``, keyed by parameter name (arrays as lists)."""
    return {spec.name: _plain(node.get_parameter(spec.name).value) for spec in specs}


class NodeParams:
    """Base for a frozen dataclass whose fields mirror the class's ``SPECS`` table.

    Field ``a_b`` holds parameter ``a.b``. Values are validated by the same :meth:`ParamSpec.check`
    as the node's on-set callback, so a test-built instance obeys the same rules.
    """

    SPECS: ClassVar[tuple[ParamSpec, ...]] = ()

    @classmethod
    def from_dict(cls: type[ParamsT], values: Mapping[str, Any] | None = None) -> ParamsT:
        """Build from ``{parameter name or field name: value}``; missing ones take the default."""
        values = dict(values or {})
        fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        spec_fields = {spec.field_name for spec in cls.SPECS}
        if fields != spec_fields:
            raise TypeError(f"{cls.__name__}: fields {sorted(fields ^ spec_fields)} do not match SPECS")
        kwargs: dict[str, Any] = {}
        for spec in cls.SPECS:
            value = values.pop(spec.name, values.pop(spec.field_name, spec.default))
            reason = spec.check(value)
            if reason:
                raise ValueError(f"{cls.__name__}: {reason}")
            kwargs[spec.field_name] = tuple(value) if isinstance(value, list) else value
        if values:
            raise ValueError(f"{cls.__name__}: unknown parameter(s) {sorted(values)}")
        return cls(**kwargs)

    @classmethod
    def declare(cls, node: Node) -> None:
        """Declare this class's parameters on ``node``."""
        declare_params(node, cls.SPECS)

    @classmethod
    def from_node(cls: type[ParamsT], node: Node) -> ParamsT:
        """Read the declared parameters of ``node`` into an instance."""
        return cls.from_dict(read_params(node, cls.SPECS))
