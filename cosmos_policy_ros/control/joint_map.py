# SPDX-License-Identifier: Apache-2.0
"""A robot stack's joints, mapped to the preset's joints at run time (ROS-free).

Real stacks differ from one flat ``/joint_states`` + one trajectory controller:

* state: franka_ros2 merges arm and finger joints (more joints than the preset commands); Trossen's
  ALOHA runs one interbotix driver per arm, each publishing the same names (``waist``, ...) on its
  own ``<arm>/joint_states``. :class:`JointStateMerger` keeps the preset's joints from any number
  of sources (a source may prefix its names), ignores the rest, and has a state once every preset
  joint has been seen.
* command: each :class:`~cosmos_policy_ros.presets.CommandGroup` is one controller interface (a
  JTC topic or action, a gripper action, an interbotix group), with the names that interface
  expects. :func:`group_columns` says which columns of a preset-ordered trajectory each group takes.
* units: a joint the policy sees in other units than the robot's interface (ALOHA's grippers:
  the policy's 0 = closed .. 1 = open, Trossen's driver takes the gripper motor's angle) has one
  :class:`~cosmos_policy_ros.presets.JointUnits`; states coming in, commands going out and the
  limits read from the robot's description all convert through it, so the arbiter, the recorder
  and the policy see policy units.

What a preset declares (sources, groups, units) lives in :mod:`cosmos_policy_ros.presets`, below
``control/``; this module holds what runs on it.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from cosmos_policy_ros.presets import CommandGroup, JointUnits, StateSource


def group_columns(group: CommandGroup, joint_names: Sequence[str]) -> list[int]:
    """Columns of a trajectory over ``joint_names`` that ``group`` takes, in the group's order."""
    index = {name: i for i, name in enumerate(joint_names)}
    missing = [j for j in group.joints if j not in index]
    if missing:
        raise ValueError(f"command group {group.name!r}: trajectory lacks {missing}")
    return [index[j] for j in group.joints]


class JointStateMerger:
    """The newest position/velocity of every preset joint, from any number of sources, in policy
    units (``units`` converts the joints whose interface uses others).

    A message is taken whole or not at all: one whose name/value lists disagree in length, that
    repeats a name, or that lacks a preset joint its topic delivered before raises ValueError and
    changes nothing, so a merged state never mixes a malformed message into good ones. Values are
    not judged here (NaN, bounds): the consumer validates the merged state.
    """

    def __init__(self, joints: Sequence[str], sources: Sequence[StateSource],
                 units: Mapping[str, JointUnits] | None = None) -> None:
        self.joints = tuple(joints)
        self._units = dict(units or {})  # robot -> policy units for the joints that have them
        self._prefix = {s.topic: s.prefix for s in sources}
        self._delivers: dict[str, frozenset[str]] = {}  # preset joints each topic delivered first
        self._position: dict[str, float] = {}
        self._velocity: dict[str, float] = {}

    def update(self, topic: str, names: Sequence[str], positions: Sequence[float],
               velocities: Sequence[float]) -> bool:
        """Store the preset joints of one message (others are ignored); True once all are known."""
        for vector, values, allowed in (("position", positions, (len(names),)),
                                        ("velocity", velocities, (0, len(names)))):
            if len(values) not in allowed:
                raise ValueError(f"{topic}: JointState.{vector} has {len(values)} values but JointState.name "
                                 f"has {len(names)}")
        if len(set(names)) != len(names):
            duplicates = sorted({n for n in names if list(names).count(n) > 1})
            raise ValueError(f"{topic}: JointState.name has duplicate joint(s) {duplicates}")
        prefix, wanted = self._prefix[topic], set(self.joints)
        found = {prefix + name: i for i, name in enumerate(names) if prefix + name in wanted}
        missing = self._delivers.setdefault(topic, frozenset(found)) - found.keys()
        if missing:
            raise ValueError(f"{topic}: joint state missing {sorted(missing)} (delivered on this topic before)")
        for joint, i in found.items():
            position, velocity = float(positions[i]), float(velocities[i]) if len(velocities) else math.nan
            units = self._units.get(joint)
            if units is not None:
                position, velocity = units.from_robot(position), units.rate_from_robot(velocity)
            self._position[joint], self._velocity[joint] = position, velocity
        return self.complete

    @property
    def complete(self) -> bool:
        return len(self._position) == len(self.joints)

    def state(self) -> tuple[list[str], list[float], list[float]]:
        """Names, positions and velocities in preset order (call when :attr:`complete`); no
        velocities when a source did not report them (JointState's convention for "unknown")."""
        velocities = [self._velocity[j] for j in self.joints]
        return (list(self.joints), [self._position[j] for j in self.joints],
                [] if any(math.isnan(v) for v in velocities) else velocities)
