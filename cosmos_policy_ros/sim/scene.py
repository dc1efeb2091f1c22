# SPDX-License-Identifier: Apache-2.0
"""Build the MuJoCo world around the sim_arm URDF: table, blocks, bin, lights, cameras, actuators.

The URDF stays the one source of kinematics and limits (MuJoCo compiles it directly, including
the gripper's mimic joint as an equality). This module only adds what a URDF cannot describe:
the scene, position actuators (PD, force-limited by the URDF ``effort``), gravity compensation
(a real position-controlled arm compensates gravity in its drive), contact properties of the
fingers, and the two cameras.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np
import yaml

from cosmos_policy_ros.presets import CONFIG_DIR
from cosmos_policy_ros.config_checks import reject_unknown_fields

DEFAULT_URDF = CONFIG_DIR.parent / "urdf" / "sim_arm.urdf"
# Commanded joints, in the order of the sim_arm preset (gripper last).
ARM_JOINTS = ("shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint",
              "wrist_2_joint", "wrist_3_joint")
GRIPPER_JOINT = "gripper_joint"
FINGER_MIMIC_JOINT = "right_finger_joint"  # mimics gripper_joint (URDF <mimic>, an equality here)
COMMANDED_JOINTS = ARM_JOINTS + (GRIPPER_JOINT,)
ARM_LINKS = ("shoulder_link", "upper_arm_link", "forearm_link", "wrist_1_link", "wrist_2_link",
             "hand_link", "left_finger_link", "right_finger_link")
GRIPPER_LINKS = ("hand_link", "left_finger_link", "right_finger_link")
TOOL_BODY = "tool_link"
TOOL_SITE = "tool"
BLOCK_COLOURS = {
    "red": (0.85, 0.12, 0.10, 1.0),
    "green": (0.10, 0.70, 0.20, 1.0),
    "blue": (0.12, 0.30, 0.90, 1.0),
}
BIN_BODY = "bin"


def block_body(colour: str) -> str:
    """Body name of the block of ``colour``."""
    return f"{colour}_block"


def check_block_colours(owner: str, colours: Sequence[str]) -> None:
    """Raise unless ``colours`` are distinct block colours."""
    unknown = [c for c in colours if c not in BLOCK_COLOURS]
    if unknown or len(set(colours)) != len(colours):
        raise ValueError(f"{owner}={list(colours)} must be distinct block colours of {list(BLOCK_COLOURS)}")


def check_block_paint(owner: str, paint: dict[str, str]) -> None:
    """Raise unless ``paint`` maps block colours to block colours."""
    bad = {k: v for k, v in paint.items() if k not in BLOCK_COLOURS or v not in BLOCK_COLOURS}
    if bad:
        raise ValueError(f"{owner}={paint}: {bad} are not block colours of {list(BLOCK_COLOURS)}")


@dataclass(frozen=True)
class CameraConfig:
    """A rendered camera.

    Args:
        name: camera name (``wrist`` is mounted on the hand, any other is fixed in the world).
        height: image height [px].
        width: image width [px].
        fovy_deg: vertical field of view [deg].
        position_m: (3,) camera position (world frame; hand frame for ``wrist``).
        look_at_m: (3,) point the camera looks at, in the same frame.
    """

    name: str
    height: int = 224
    width: int = 224
    fovy_deg: float = 50.0
    position_m: tuple[float, float, float] = (0.95, 0.45, 0.7)
    look_at_m: tuple[float, float, float] = (0.3, 0.0, 0.08)

    def __post_init__(self) -> None:
        if self.height <= 0 or self.width <= 0:
            raise ValueError(f"CameraConfig {self.name}: height/width=({self.height}, {self.width}) "
                             "must be positive")
        if not 1.0 <= self.fovy_deg <= 170.0:
            raise ValueError(f"CameraConfig {self.name}: fovy_deg={self.fovy_deg} not in [1, 170]")


WRIST_CAMERA = CameraConfig("wrist", fovy_deg=75.0, position_m=(-0.055, 0.0, 0.015),
                            look_at_m=(0.0, 0.0, 0.16))
PRIMARY_CAMERA = CameraConfig("primary")


@dataclass(frozen=True)
class SceneConfig:
    """Geometry and physics of the table-top scene.

    Args:
        urdf_path: robot description (kinematics, limits, inertias).
        timestep_s: physics step.
        arm_kp: position gains of the six arm joints [N m/rad].
        gripper_kp: position gain of the gripper [N/m]; its force is capped by the URDF effort.
        armature_kg_m2: reflected rotor inertia added to every arm joint (stabilizes stiff PD).
        block_half_size_m: half edge of the cube blocks.
        block_mass_kg: mass of one block.
        bin_half_size_m: inner half width of the square bin.
        bin_wall_height_m: height of the bin walls.
        bin_wall_thickness_m: thickness of the bin walls and floor.
        finger_friction: sliding friction of fingers and blocks.
        cameras: rendered cameras (resolution per camera).
        shadow_map_size: shadow map resolution [px] (the dominant render cost on a CPU renderer:
            4096, MuJoCo's default, renders about 10x slower than 1024).
        offscreen_samples: multisampling of offscreen renders (anti-aliasing).
        block_paint: block colour -> the colour it is drawn in (``SceneFile.block_paint``).
    """

    urdf_path: Path = DEFAULT_URDF
    timestep_s: float = 0.002
    arm_kp: tuple[float, ...] = (600.0, 600.0, 400.0, 120.0, 120.0, 60.0)
    gripper_kp: float = 1500.0
    armature_kg_m2: float = 0.05
    block_half_size_m: float = 0.02
    block_mass_kg: float = 0.05
    bin_half_size_m: float = 0.065
    bin_wall_height_m: float = 0.05
    bin_wall_thickness_m: float = 0.008
    finger_friction: float = 1.5
    cameras: tuple[CameraConfig, ...] = field(default=(WRIST_CAMERA, PRIMARY_CAMERA))
    shadow_map_size: int = 1024
    offscreen_samples: int = 2
    block_paint: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_block_paint("SceneConfig.block_paint", self.block_paint)
        if not Path(self.urdf_path).is_file():
            raise ValueError(f"SceneConfig.urdf_path={self.urdf_path} does not exist")
        if not 0.0 < self.timestep_s <= 0.01:
            raise ValueError(f"SceneConfig.timestep_s={self.timestep_s} must be in (0, 0.01]")
        if len(self.arm_kp) != len(ARM_JOINTS) or min(self.arm_kp) <= 0:
            raise ValueError(f"SceneConfig.arm_kp={self.arm_kp} needs {len(ARM_JOINTS)} positive gains")
        names = [c.name for c in self.cameras]
        if len(set(names)) != len(names):
            raise ValueError(f"SceneConfig.cameras names {names} must be unique")


@dataclass(frozen=True)
class CameraMount:
    """Where a scene file puts a camera (unset fields keep the default mount's)."""

    fovy_deg: float | None = None
    position_m: tuple[float, float, float] | None = None
    look_at_m: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        for key in ("position_m", "look_at_m"):
            value = getattr(self, key)
            if value is not None and len(value) != 3:
                raise ValueError(f"scene camera mount {key}={value} needs 3 values")
            if value is not None:
                object.__setattr__(self, key, tuple(float(v) for v in value))

    def changes(self) -> dict[str, object]:
        """The set fields, as ``dataclasses.replace`` keywords for a ``CameraConfig``."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class SceneFile:
    """A scene YAML (the ``scene`` parameter of sim_arm): what a setting changes in the default scene.

    Args:
        block_half_size_m: half edge of the cube blocks (bigger blocks span more pixels of a small camera).
        camera_mounts: per camera name, its ``CameraMount`` (``wrist``: hand frame; any other
            camera: world frame).
        target_colours: the block colours a scene seed may name as the task's target (empty: all
            of them). Every block is still placed; with one colour the instruction never changes,
            so a policy learns to find that block among the others without reading the word.
        block_paint: block colour -> the colour it is drawn in, e.g. ``{green: red}`` for two
            red-looking blocks (the ``twin`` task); the bodies keep their names.
    """

    block_half_size_m: float = SceneConfig.block_half_size_m
    camera_mounts: dict[str, CameraMount] = field(default_factory=dict)
    target_colours: tuple[str, ...] = ()
    block_paint: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.005 <= self.block_half_size_m <= 0.05:
            raise ValueError(f"scene block_half_size_m={self.block_half_size_m} not in [0.005, 0.05] m "
                             "(the gripper opens to 0.08 m)")
        object.__setattr__(self, "target_colours", tuple(self.target_colours))
        check_block_colours("scene target_colours", self.target_colours)
        check_block_paint("scene block_paint", self.block_paint)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "SceneFile":
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        reject_unknown_fields(path, data, cls)
        mounts = data.get("camera_mounts") or {}
        for name, mount in mounts.items():
            reject_unknown_fields(f"{path}: camera_mounts.{name}", mount, CameraMount)
        return cls(**{**data, "camera_mounts": {name: CameraMount(**m) for name, m in mounts.items()}})


def build_scene_config(cameras: Sequence[tuple[str, int, int]], scene_file: str | Path = "") -> SceneConfig:
    """The scene for cameras ``(name, height, width)`` (a preset's): default mounts (``wrist`` on
    the hand, any other at the fixed view) and blocks, changed by ``scene_file`` where given."""
    scene = SceneFile.from_yaml(scene_file) if scene_file else SceneFile()
    unknown = set(scene.camera_mounts) - {name for name, _, _ in cameras}
    if unknown:
        raise ValueError(f"scene {scene_file}: camera_mounts for {sorted(unknown)}, which the robot does not have")
    configs = []
    for name, height, width in cameras:
        mount = WRIST_CAMERA if name == WRIST_CAMERA.name else PRIMARY_CAMERA
        changes = scene.camera_mounts.get(name, CameraMount()).changes()
        configs.append(dataclasses.replace(mount, name=name, height=height, width=width, **changes))
    return SceneConfig(cameras=tuple(configs), block_half_size_m=scene.block_half_size_m,
                       block_paint=dict(scene.block_paint))


def build_model(config: SceneConfig) -> mujoco.MjModel:
    """Compile the URDF plus scene into a MuJoCo model."""
    spec = mujoco.MjSpec.from_file(str(config.urdf_path))
    spec.modelname = "sim_arm_scene"
    spec.option.timestep = config.timestep_s
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = 10.0  # stiffer friction: grasped blocks do not slip
    spec.visual.quality.shadowsize = config.shadow_map_size
    spec.visual.quality.offsamples = config.offscreen_samples
    for camera in config.cameras:
        spec.visual.global_.offwidth = max(spec.visual.global_.offwidth, camera.width)
        spec.visual.global_.offheight = max(spec.visual.global_.offheight, camera.height)
    _add_robot_extras(spec, config)
    _add_world(spec)
    _add_blocks(spec, config)
    _add_bin(spec, config)
    _add_cameras(spec, config.cameras)
    return spec.compile()


def _add_robot_extras(spec: mujoco.MjSpec, config: SceneConfig) -> None:
    """Actuators, armature, gravity compensation, tool site and finger contact properties."""
    for link in ARM_LINKS:
        spec.body(link).gravcomp = 1.0
    for joint_name, kp in zip(ARM_JOINTS, config.arm_kp):
        spec.joint(joint_name).armature = config.armature_kg_m2
        _add_position_actuator(spec, joint_name, kp)
    _add_position_actuator(spec, GRIPPER_JOINT, config.gripper_kp)
    spec.body(TOOL_BODY).add_site(name=TOOL_SITE, size=[0.005, 0, 0], rgba=[1, 1, 0, 0])
    for link in ("left_finger_link", "right_finger_link"):
        for geom in spec.body(link).geoms:
            geom.friction = [config.finger_friction, 0.02, 0.001]
            geom.condim = 4
    # The fingers' range is a mechanical stop, as on a real hand: MuJoCo's default soft limit
    # (solref 0.02 s) let contact push the fingers 22 mm past 0.04 m under 80 N; a stiff, hard
    # limit (time constant two physics steps, impedance near 1) keeps that under 0.5 mm at 500 N.
    for joint_name in (GRIPPER_JOINT, FINGER_MIMIC_JOINT):
        joint = spec.joint(joint_name)
        joint.solref_limit = [2.0 * config.timestep_s, 1.0]
        joint.solimp_limit = [0.99, 0.999, 0.0005, 0.5, 2.0]


def _add_position_actuator(spec: mujoco.MjSpec, joint_name: str, kp: float) -> None:
    joint = spec.joint(joint_name)
    actuator = spec.add_actuator(name=f"{joint_name}_position", target=joint_name,
                                 trntype=mujoco.mjtTrn.mjTRN_JOINT)
    actuator.set_to_position(kp=kp, dampratio=1.0)
    actuator.ctrlrange = joint.range
    actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
    actuator.forcerange = joint.actfrcrange
    actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE


def _add_world(spec: mujoco.MjSpec) -> None:
    """Floor, table top (its surface is z = 0, where the arm's base stands) and lights."""
    world = spec.worldbody
    spec.add_texture(name="grid", type=mujoco.mjtTexture.mjTEXTURE_2D,
                     builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER, width=256, height=256,
                     rgb1=[0.32, 0.34, 0.38], rgb2=[0.26, 0.28, 0.31])
    spec.add_material(name="floor", textures=["", "grid"], texrepeat=[8, 8])
    world.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[3, 3, 0.05],
                   pos=[0, 0, -0.75], material="floor")
    world.add_geom(name="table", type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.45, 0.6, 0.02],
                   pos=[0.3, 0, -0.02], rgba=[0.78, 0.66, 0.50, 1])
    world.add_light(name="key", pos=[0.6, -0.6, 1.6], dir=[-0.3, 0.4, -1], diffuse=[0.7, 0.7, 0.7],
                    castshadow=True)
    world.add_light(name="fill", pos=[-0.4, 0.6, 1.4], dir=[0.4, -0.3, -1], diffuse=[0.35, 0.35, 0.35],
                    castshadow=False)


def _add_blocks(spec: mujoco.MjSpec, config: SceneConfig) -> None:
    half = config.block_half_size_m
    for index, colour in enumerate(BLOCK_COLOURS):
        rgba = BLOCK_COLOURS[config.block_paint.get(colour, colour)]
        body = spec.worldbody.add_body(name=block_body(colour), pos=[0.4, 0.1 * index, half])
        body.add_freejoint(name=f"{colour}_block_free")
        body.add_geom(name=f"{colour}_block_geom", type=mujoco.mjtGeom.mjGEOM_BOX,
                      size=[half, half, half], rgba=list(rgba), mass=config.block_mass_kg,
                      friction=[config.finger_friction, 0.02, 0.001], condim=4)


def _add_bin(spec: mujoco.MjSpec, config: SceneConfig) -> None:
    """A static open box: floor plus four walls, its origin at the centre of the floor's top."""
    body = spec.worldbody.add_body(name=BIN_BODY, pos=[0.35, -0.25, 0.0], mocap=True)
    inner, wall_h, wall_t = config.bin_half_size_m, config.bin_wall_height_m, config.bin_wall_thickness_m
    outer = inner + wall_t
    rgba = [0.30, 0.30, 0.34, 1]
    body.add_geom(name="bin_floor", type=mujoco.mjtGeom.mjGEOM_BOX, size=[outer, outer, wall_t / 2],
                  pos=[0, 0, wall_t / 2], rgba=rgba)
    for name, pos, size in (
            ("bin_wall_px", [inner + wall_t / 2, 0, wall_h / 2], [wall_t / 2, outer, wall_h / 2]),
            ("bin_wall_nx", [-inner - wall_t / 2, 0, wall_h / 2], [wall_t / 2, outer, wall_h / 2]),
            ("bin_wall_py", [0, inner + wall_t / 2, wall_h / 2], [inner, wall_t / 2, wall_h / 2]),
            ("bin_wall_ny", [0, -inner - wall_t / 2, wall_h / 2], [inner, wall_t / 2, wall_h / 2])):
        body.add_geom(name=name, type=mujoco.mjtGeom.mjGEOM_BOX, size=size, pos=pos, rgba=rgba)


def _add_cameras(spec: mujoco.MjSpec, cameras: tuple[CameraConfig, ...]) -> None:
    for camera in cameras:
        parent = spec.body("hand_link") if camera.name == "wrist" else spec.worldbody
        parent.add_camera(name=camera.name, pos=list(camera.position_m), fovy=camera.fovy_deg,
                          quat=look_at_quaternion(np.array(camera.position_m), np.array(camera.look_at_m)))


def look_at_quaternion(position: np.ndarray, target: np.ndarray) -> list[float]:
    """Camera orientation (w, x, y, z) looking from ``position`` at ``target`` with +z up.

    A MuJoCo camera looks along its -z axis with +y up in the image.
    """
    forward = target - position
    forward = forward / np.linalg.norm(forward)
    up_hint = np.array([0.0, 0.0, 1.0]) if abs(forward[2]) < 0.99 else np.array([1.0, 0.0, 0.0])
    right = np.cross(forward, up_hint)
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    rotation = np.column_stack([right, up, -forward])  # camera axes in the parent frame
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, rotation.reshape(-1))
    return quat.tolist()
