# SPDX-License-Identifier: Apache-2.0
"""The shared config checks (ROS-free, standard library only): ``check_field`` behind every config
dataclass's ``__post_init__``, ``reject_unknown_fields`` behind every loader of a config file.

Each config module binds its owner once, ``_check = functools.partial(check_field, "planner
config")``, so every error reads the same way and names the field and its value:
``planner config field num_candidates=0 must be >= 1``.
"""
from __future__ import annotations

import dataclasses
import difflib


def check_field(owner: str, ok: bool, field_name: str, value: object, why: str) -> None:
    """Raise unless ``ok``.

    Args:
        owner: what holds the field (``robot preset``, ``config``, ``planner config``).
        ok: the condition the value must meet.
        field_name: the field, dotted for nested configs (``layout.chunk_length``).
        value: the offending value (shown with ``repr``).
        why: the rule it breaks (``must be >= 1``).

    Raises:
        ValueError: ``"<owner> field <field_name>=<value!r> <why>"``.
    """
    if not ok:
        raise ValueError(f"{owner} field {field_name}={value!r} {why}")


def reject_unknown_fields(source: object, data: dict, config_class: type) -> None:
    """Raise when ``data`` (a config read from ``source``) has keys that are not fields of the
    dataclass ``config_class``, with a close-match hint per key."""
    known = [f.name for f in dataclasses.fields(config_class)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        hints = {k: difflib.get_close_matches(k, known, n=1) for k in unknown}
        raise ValueError(f"{source}: unknown field(s) {unknown}; did you mean {hints}?")
