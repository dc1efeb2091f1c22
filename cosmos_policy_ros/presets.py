# SPDX-License-Identifier: Apache-2.0
"""Robot presets: which joints, cameras, topics, rates and chunking a robot uses.

A preset is plain YAML under ``config/robots/<name>.yaml`` (see ``sim_arm.yaml`` for every
field, documented). It is hardware/deployment configuration; the model's own layout
(``core.layout``) is derived from it, and saved with the weights, so training and deployment
agree on shapes. ROS-free: the simulator, the data converter and the nodes all read it.

The preset also says how the robot's stack delivers states and takes commands: its state topics
(:class:`StateSource`), controller interfaces (:class:`CommandGroup`) and joint units
(:class:`JointUnits`). These are declarations; ``control.joint_map`` runs them. Nothing here
imports another module of ours beyond ``config_checks``, so ``control/`` may read presets.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cosmos_policy_ros.config_checks import check_field, reject_unknown_fields

PACKAGE = "cosmos_policy_ros"
SOURCE_CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
# The model's action columns in the ee_delta action space (control.action_spaces converts them).
EE_DELTA_NAMES = ("dx", "dy", "dz", "rx", "ry", "rz", "gripper")


def find_config_dir() -> Path:
    """``config/`` of the source tree, else of the installed share folder (colcon install).

    The share folder (``share/cosmos_policy_ros/{config,urdf,launch}``) mirrors the source tree,
    so paths relative to ``CONFIG_DIR.parent`` (URDFs) resolve in both layouts.
    """
    if (SOURCE_CONFIG_DIR / "robots").is_dir():
        return SOURCE_CONFIG_DIR
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE)) / "config"
    except (ImportError, LookupError, OSError):  # no ament index, or the package is not in it
        return SOURCE_CONFIG_DIR


CONFIG_DIR = find_config_dir()
ROBOTS_DIR = CONFIG_DIR / "robots"
ACTION_SPACES = ("joint_position", "joint_delta", "ee_delta")


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



@dataclass(frozen=True)
class CameraSpec:
    """One camera: its name in the model layout, its topic, the frame size its driver publishes and
    the size the model sees.

    Args:
        name / topic: camera name in the model layout; sensor_msgs Image/CompressedImage topic.
        height / width: the frames the driver publishes [px]; a frame of another size is refused.
        rate_hz / compressed: the driver's frame rate; CompressedImage instead of Image.
        model_height / model_width: the image the model sees [px]; None = the frame size. Frames are
            resized to it once, on arrival (``serving.camera_input``).
        preprocess_size: square side a frame is first resized to [px] before the model size, as the
            official ALOHA pipeline does (480x640 -> 256x256 -> 224x224); None = straight to the
            model size.
    """

    name: str
    topic: str
    height: int = 224
    width: int = 224
    rate_hz: float = 15.0
    compressed: bool = False
    model_height: int | None = None
    model_width: int | None = None
    preprocess_size: int | None = None

    def __post_init__(self) -> None:
        _check(bool(self.name), "cameras[].name", self.name, "must be non-empty")
        _check(self.height > 0 and self.width > 0, f"cameras[{self.name}].height/width",
               (self.height, self.width), "must be positive")
        _check(self.rate_hz > 0, f"cameras[{self.name}].rate_hz", self.rate_hz, "must be > 0")
        model = (self.model_height, self.model_width)
        _check(model == (None, None) or all(isinstance(v, int) and v > 0 for v in model),
               f"cameras[{self.name}].model_height/model_width", model, "must both be positive or both absent")
        _check(self.preprocess_size is None or self.preprocess_size > 0, f"cameras[{self.name}].preprocess_size",
               self.preprocess_size, "must be positive or absent")

    @property
    def frame_size(self) -> tuple[int, int]:
        """(height, width) of the frames the driver publishes."""
        return self.height, self.width

    @property
    def model_size(self) -> tuple[int, int]:
        """(height, width) of the image the model sees."""
        if self.model_height is None or self.model_width is None:
            return self.frame_size
        return self.model_height, self.model_width


@dataclass(frozen=True)
class RobotPreset:
    """Everything deployment needs to know about one robot.

    Args:
        name: preset name (file stem).
        joints: commanded joints in model order (actions and proprio use this order).
        gripper_joints: the subset of ``joints`` that are grippers (commanded as positions).
        cameras: cameras in model order (the latent layout follows this order).
        joint_states_topic: sensor_msgs/JointState input (relative names resolve in the namespace).
        controller_topic: trajectory_msgs/JointTrajectory output of the command arbiter.
        teleop_topic: teleop commands (JointTrajectory) from a device or leader arm.
        control_rate_hz: rate of the action chunk's steps.
        chunk_length: steps per predicted chunk.
        execute_steps: steps executed before the next chunk takes over (execution horizon).
        action_space: joint_position | joint_delta | ee_delta.
        urdf: path of the robot description, relative to the package share (one source of limits).
        max_joint_jump_rad: largest allowed distance between the arm's state and a chunk's first
            executed step (larger chunks are rejected whole).
        state_sources: JointState topics merged into the arm's state (``{topic, prefix}``; the
            preset name of a source's joint is prefix + its name; joints outside ``joints`` are
            ignored). Default: ``joint_states_topic`` alone.
        command_groups: where the arbiter's trajectory goes, one controller interface per group
            (:class:`CommandGroup`); together they cover each
            joint once. Default: every joint to the JointTrajectory topic ``controller_topic``.
        joint_units: joints whose robot interface uses other units than the policy
            (``{joint: {zero, one}}``: the robot's values at the policy's 0 and 1,
            :class:`JointUnits`); states, commands and
            description limits of these joints are converted. Default: none (the same units).
        extra: free-form, preset-specific settings.
    """

    name: str
    joints: tuple[str, ...]
    cameras: tuple[CameraSpec, ...]
    gripper_joints: tuple[str, ...] = ()
    joint_states_topic: str = "joint_states"
    controller_topic: str = "/arm_controller/joint_trajectory"
    teleop_topic: str = "teleop/joint_trajectory"
    control_rate_hz: float = 10.0
    chunk_length: int = 16
    execute_steps: int = 8
    action_space: str = "joint_position"
    urdf: str = ""
    max_joint_jump_rad: float = 0.15
    state_sources: tuple[StateSource, ...] = ()
    command_groups: tuple[CommandGroup, ...] = ()
    joint_units: dict[str, JointUnits] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(len(self.joints) > 0, "joints", self.joints, "must list at least one joint")
        _check(len(set(self.joints)) == len(self.joints), "joints", self.joints, "has duplicates")
        missing = [j for j in self.gripper_joints if j not in self.joints]
        _check(not missing, "gripper_joints", missing, "are not in joints")
        unknown = [j for j in self.joint_units if j not in self.joints]
        _check(not unknown, "joint_units", unknown, "are not in joints")
        names = [c.name for c in self.cameras]
        _check(len(set(names)) == len(names), "cameras", names, "has duplicate names")
        _check(self.control_rate_hz > 0 and math.isfinite(self.control_rate_hz),
               "control_rate_hz", self.control_rate_hz, "must be a positive number")
        _check(self.chunk_length >= 1, "chunk_length", self.chunk_length, "must be >= 1")
        _check(1 <= self.execute_steps <= self.chunk_length, "execute_steps", self.execute_steps,
               f"must be in [1, chunk_length={self.chunk_length}]")
        _check(self.action_space in ACTION_SPACES, "action_space", self.action_space,
               f"must be one of {ACTION_SPACES}")
        _check(self.max_joint_jump_rad > 0, "max_joint_jump_rad", self.max_joint_jump_rad, "must be > 0")
        if not self.state_sources:
            object.__setattr__(self, "state_sources", (StateSource(self.joint_states_topic),))
        if not self.command_groups:
            object.__setattr__(self, "command_groups", (CommandGroup(
                "arm", self.joints, "joint_trajectory_topic", self.controller_topic),))
        try:
            check_groups(self.command_groups, self.joints)
        except ValueError as error:
            _check(False, "command_groups", [g.name for g in self.command_groups], str(error))

    @property
    def dt_s(self) -> float:
        """Control period [s]."""
        return 1.0 / self.control_rate_hz

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def action_names(self) -> tuple[str, ...]:
        """Column names of the model's actions in this preset's action space."""
        return EE_DELTA_NAMES if self.action_space == "ee_delta" else tuple(self.joints)

    @property
    def urdf_path(self) -> Path:
        """Absolute path of the URDF (relative paths resolve against the repository/share root)."""
        path = Path(self.urdf)
        return path if path.is_absolute() else CONFIG_DIR.parent / path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RobotPreset":
        reject_unknown_fields("robot preset", data, cls)
        data = dict(data)
        data["joints"] = tuple(data.get("joints", ()))
        data["gripper_joints"] = tuple(data.get("gripper_joints", ()))
        data["cameras"] = tuple(CameraSpec(**c) for c in data.get("cameras", ()))
        data["state_sources"] = tuple(StateSource(**s) for s in data.get("state_sources", ()))
        data["command_groups"] = tuple(CommandGroup.from_dict(g) for g in data.get("command_groups", ()))
        try:
            data["joint_units"] = units_from_dict(data.get("joint_units", {}))
        except (KeyError, TypeError, ValueError) as error:
            _check(False, "joint_units", data.get("joint_units"), f"must map joints to {{zero, one}}: {error}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["joints"], out["gripper_joints"] = list(self.joints), list(self.gripper_joints)
        out["cameras"] = [dataclasses.asdict(c) for c in self.cameras]
        out["state_sources"] = [dataclasses.asdict(s) for s in self.state_sources]
        out["command_groups"] = [{"name": g.name, "joints": list(g.joints), "interface": g.interface,
                                  "target": g.target, "robot_joints": list(g.robot_joints), **g.options}
                                 for g in self.command_groups]
        return out


def available_presets() -> list[str]:
    """Names of the presets shipped in config/robots."""
    return sorted(p.stem for p in ROBOTS_DIR.glob("*.yaml"))


def load_preset(name_or_path: str | Path) -> RobotPreset:
    """Load a preset by name (``sim_arm``) or by YAML path; unknown names get a close-match hint."""
    path = Path(name_or_path)
    if not path.suffix:
        path = ROBOTS_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            names = available_presets()
            hint = difflib.get_close_matches(str(name_or_path), names, n=1)
            raise ValueError(f"unknown robot preset {name_or_path!r}; available: {names}"
                             + (f"; did you mean {hint[0]!r}?" if hint else ""))
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    data.setdefault("name", path.stem)
    return RobotPreset.from_dict(data)


_check = functools.partial(check_field, "robot preset")
