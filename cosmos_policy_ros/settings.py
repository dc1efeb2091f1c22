# SPDX-License-Identifier: Apache-2.0
"""One home per setting: a config dataclass field carries its default, description and range.

ROS-free and standard library only. A field declared with :func:`setting` is the single source
of a setting; the node parameter that fills it (``ros.params.ParamSpec.of``) reads its default,
description and range from here, and a field that only forwards another component's setting
copies it with :func:`same_as` (``ModelSource.search_depth`` is ``PlannerConfig.search_depth``)::

    @dataclass(frozen=True)
    class StitchConfig:
        min_seam_s: float = setting(0.1, "First kept step of a chunk is due >= this after now [s].",
                                    min_value=0.0, max_value=1.0)

        def __post_init__(self) -> None:
            check_settings(self)

Defaults must be immutable (numbers, strings, tuples, enums): the same value is the dataclass
default and the parameter default.
"""
from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass
from typing import Any

METADATA_KEY = "setting"


@dataclass(frozen=True)
class SettingInfo:
    """What a setting field says about itself besides its default.

    Args:
        description: what the setting does (``ros2 param describe`` shows it).
        min_value / max_value: inclusive numeric bounds (None = open).
        choices: the allowed values (scalars only).
    """

    description: str
    min_value: float | int | None = None
    max_value: float | int | None = None
    choices: tuple[Any, ...] | None = None

    def check(self, name: str, value: Any) -> str | None:
        """Why ``value`` is not acceptable for setting ``name``, or None when it is."""
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if numeric and isinstance(value, float) and math.isnan(value):
            return f"{name}={value!r} is NaN"
        if numeric and self.min_value is not None and value < self.min_value:
            return f"{name}={value!r} is below min_value={self.min_value}"
        if numeric and self.max_value is not None and value > self.max_value:
            return f"{name}={value!r} is above max_value={self.max_value}"
        if self.choices is not None and value not in self.choices:
            return f"{name}={value!r} is not one of {list(self.choices)}"
        return None


def setting(default: Any, description: str, *, min_value: float | int | None = None,
            max_value: float | int | None = None, choices: tuple[Any, ...] | None = None) -> Any:
    """A dataclass field that is the one home of a setting (default, description, range)."""
    if isinstance(default, (list, dict, set)):
        raise TypeError(f"setting default {default!r} must be immutable (use a tuple)")
    info = SettingInfo(description, min_value, max_value, choices)
    return dataclasses.field(default=default, metadata={METADATA_KEY: info})


def _field(owner: type, name: str) -> dataclasses.Field:
    fields = {f.name: f for f in dataclasses.fields(owner)}
    if name not in fields:
        raise AttributeError(f"{owner.__name__} has no field {name!r}")
    return fields[name]


def setting_of(owner: type, name: str) -> tuple[Any, SettingInfo]:
    """The default and :class:`SettingInfo` of ``owner.name`` (a :func:`setting` field)."""
    field = _field(owner, name)
    if METADATA_KEY not in field.metadata:
        raise TypeError(f"{owner.__name__}.{name} is not declared with settings.setting()")
    return field.default, field.metadata[METADATA_KEY]


def same_as(owner: type, name: str) -> Any:
    """A field that forwards ``owner.name``: the same default, description and range."""
    default, info = setting_of(owner, name)
    return dataclasses.field(default=default, metadata={METADATA_KEY: info})


def check_settings(instance: Any) -> None:
    """Raise ValueError naming the first :func:`setting` field of ``instance`` out of its range or choices."""
    for field in dataclasses.fields(instance):
        info = field.metadata.get(METADATA_KEY)
        if info is None:
            continue
        value = getattr(instance, field.name)
        values = value if isinstance(value, tuple) else (value,)
        for item in values:
            reason = info.check(f"{type(instance).__name__}.{field.name}", item)
            if reason:
                raise ValueError(reason)


def parameter_value(value: Any) -> Any:
    """A setting value as a ROS parameter value: enums by lower-case name, tuples as lists."""
    if isinstance(value, enum.Enum):
        return value.name.lower()
    if isinstance(value, tuple):
        return [parameter_value(v) for v in value]
    return value
