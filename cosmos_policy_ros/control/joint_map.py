# SPDX-License-Identifier: Apache-2.0
"""How a robot stack names and groups its joints, mapped to the preset's joints (ROS-free).

Real stacks differ from one flat ``/joint_states`` + one trajectory controller:

* state: franka_ros2 merges arm and finger joints (more joints than the preset commands); Trossen's
  ALOHA runs one interbotix driver per arm, each publishing the same names (``waist``, ...) on its
  own ``<arm>/joint_states``. :class:`JointStateMerger` keeps the preset's joints from any number
  of sources (a source may prefix its names), ignores the rest, and has a state once every preset
  joint has been seen.
* command: each :class:`CommandGroup` is one controller interface (a JTC topic or action, a
  gripper action, an interbotix group), with the names that interface expects.
  :func:`group_columns` says which columns of a preset-ordered trajectory each group takes.
* units: a joint the policy sees in other units than the robot's interface (ALOHA's grippers:
  the policy's 0 = closed .. 1 = open, Trossen's driver takes the gripper motor's angle) has one
  :class:`JointUnits`; states coming in, commands going out and the limits read from the robot's
  description all convert through it, so the arbiter, the recorder and the policy see policy units.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

INTERFACES = ("joint_trajectory_topic", "follow_joint_trajectory", "gripper_command", "interbotix_trajectory",
              "interbotix_single")


@dataclass(frozen=True)
class StateSource:
    """One JointState topic; the preset name of its joint ``n`` is ``prefix + n``."""

    topic: str
    prefix: str = ""


@dataclass(frozen=True)
class JointUnits:
    """Affine map of one joint: ``robot = zero + policy * (one - zero)``.

    Args:
        zero: the robot interface's value where the policy's value is 0.
        one: the robot interface's value where the policy's value is 1.
    """

    zero: float
    one: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.zero) and math.isfinite(self.one)) or self.zero == self.one:
            raise ValueError(f"joint units need two different finite values, got zero={self.zero} one={self.one}")

    @property
    def span(self) -> float:
        return self.one - self.zero

    def to_robot(self, value: float) -> float:
        return self.zero + value * self.span

    def from_robot(self, value: float) -> float:
        return (value - self.zero) / self.span

    def rate_to_robot(self, rate: float) -> float:
        """A velocity or acceleration (no offset)."""
        return rate * self.span

    def rate_from_robot(self, rate: float) -> float:
        return rate / self.span

    def bounds_from_robot(self, lower: float, upper: float) -> tuple[float, float]:
        """Robot-unit bounds in policy units, ordered (a negative span swaps them)."""
        a, b = self.from_robot(lower), self.from_robot(upper)
        return (a, b) if a <= b else (b, a)


def units_from_dict(data: Mapping[str, Mapping[str, float]]) -> dict[str, JointUnits]:
    """``{joint: {zero: .., one: ..}}`` (a preset's ``joint_units``) as :class:`JointUnits`."""
    return {joint: JointUnits(float(u["zero"]), float(u["one"])) for joint, u in data.items()}


@dataclass(frozen=True)
class CommandGroup:
    """One controller interface and the preset joints it takes.

    Args:
        name: label (status messages, logs).
        joints: preset joints this interface commands, in the order it expects them.
        interface: joint_trajectory_topic | follow_joint_trajectory | gripper_command |
            interbotix_trajectory | interbotix_single.
        target: the topic or action name.
        robot_joints: the names the interface uses for ``joints`` (default: the same names).
        options: interface-specific values (gripper ``max_effort``; interbotix ``group``, the
            motor group name of its ``cmd_type: group`` commands).
    """

    name: str
    joints: tuple[str, ...]
    interface: str
    target: str
    robot_joints: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.interface not in INTERFACES:
            raise ValueError(f"command group {self.name!r}: interface {self.interface!r} must be one of {INTERFACES}")
        if not self.joints or not self.target:
            raise ValueError(f"command group {self.name!r} needs joints and a target")
        if self.robot_joints and len(self.robot_joints) != len(self.joints):
            raise ValueError(f"command group {self.name!r}: robot_joints {self.robot_joints} must name each of "
                             f"{self.joints}")
        if self.interface in ("gripper_command", "interbotix_single") and len(self.joints) != 1:
            raise ValueError(f"command group {self.name!r}: {self.interface} takes exactly one joint")

    @property
    def names_on_robot(self) -> tuple[str, ...]:
        return self.robot_joints or self.joints

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "CommandGroup":
        known = {"name", "joints", "interface", "target", "robot_joints"}
        return cls(name=data["name"], joints=tuple(data["joints"]), interface=data["interface"],
                   target=data["target"], robot_joints=tuple(data.get("robot_joints", ())),
                   options={k: v for k, v in data.items() if k not in known})


def check_groups(groups: Sequence[CommandGroup], joints: Sequence[str]) -> None:
    """Every preset joint in exactly one group, and nothing else."""
    listed = [j for g in groups for j in g.joints]
    missing = sorted(set(joints) - set(listed))
    extra = sorted(set(listed) - set(joints))
    twice = sorted({j for j in listed if listed.count(j) > 1})
    if missing or extra or twice:
        raise ValueError(f"command groups must cover each preset joint once: missing {missing}, "
                         f"unknown {extra}, repeated {twice}")


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
