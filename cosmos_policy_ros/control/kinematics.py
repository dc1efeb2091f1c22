# SPDX-License-Identifier: Apache-2.0
"""The one kinematics module: forward kinematics and damped-least-squares IK of a URDF link.

ROS-free. MuJoCo compiles the URDF (reduced to kinematics: no meshes needed) and gives forward
kinematics and Jacobians; IK is damped least squares on the 6-D pose error, clamped to the joint
ranges and warm-started from a seed configuration (consecutive solutions stay on one branch, the
result is deterministic). Users: the arbiter's ``ee_delta`` action space
(:mod:`.action_spaces`) and the sim's expert (``sim.kinematics``).

MuJoCo is imported on first use, not with this module: the command arbiter and policy_node
import :class:`IkConfig` (their parameters) and load a physics engine only when a robot's action
space needs IK.
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np
from transforms3d.axangles import axangle2mat

from cosmos_policy_ros.control.limits import MOVABLE_JOINT_TYPES
from cosmos_policy_ros.settings import check_settings, setting

# MuJoCo refuses moving bodies without mass; links without <inertial> get this tiny one
# (kinematics does not depend on it).
PLACEHOLDER_MASS_KG = 1e-3
PLACEHOLDER_INERTIA_KG_M2 = 1e-6
# Rotation angles below this are treated as no rotation (axis undefined).
MIN_ROTATION_RAD = 1e-12
# Keeps the step scaling finite when the DLS step is zero.
STEP_EPSILON = 1e-12
EE_SITE = "ik_end_effector"  # the site IK reads, added at the end-effector link's origin


def _mujoco() -> ModuleType:
    """MuJoCo, imported where IK or forward kinematics actually run."""
    import mujoco

    return mujoco


@dataclass(frozen=True)
class IkConfig:
    """End-effector delta scaling and IK settings (defaults: robosuite OSC_POSE as used by LIBERO;
    the sim's teleop expert uses its own, looser tolerances: ``sim.kinematics.SIM_IK``).

    Args:
        ee_link: URDF link whose pose the actions move.
        translation_scale_m: metres per unit of dx/dy/dz (0.05 for normalised LIBERO actions).
        rotation_scale_rad: radians per unit of rx/ry/rz (0.5 for normalised LIBERO actions).
        damping: DLS damping lambda (larger = more robust near singularities, slower).
        max_iterations: IK iterations per step.
        tolerance_m, tolerance_rad: convergence thresholds on position and rotation error.
        max_step_rad: largest joint change per IK iteration (keeps DLS in its linear region).
        reject_error_m, reject_error_rad: a step whose final IK error exceeds these is unreachable
            and rejects the chunk.
    """

    ee_link: str = setting("tool_link", "End-effector link for the ee_delta action space.")
    translation_scale_m: float = setting(0.05, "Metres per unit of ee_delta translation.", min_value=1e-6)
    rotation_scale_rad: float = setting(0.5, "Radians per unit of ee_delta rotation.", min_value=1e-6)
    damping: float = 0.05
    max_iterations: int = 100
    tolerance_m: float = 1e-4
    tolerance_rad: float = 1e-3
    max_step_rad: float = 0.2
    reject_error_m: float = 1e-3
    reject_error_rad: float = 1e-2

    def __post_init__(self) -> None:
        check_settings(self)
        if not self.ee_link:
            raise ValueError("IkConfig.ee_link must name a URDF link")
        for name in ("translation_scale_m", "rotation_scale_rad", "damping", "tolerance_m",
                     "tolerance_rad", "max_step_rad", "reject_error_m", "reject_error_rad"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"IkConfig.{name}={value!r} must be a finite number > 0")
        if self.max_iterations < 1:
            raise ValueError(f"IkConfig.max_iterations={self.max_iterations} must be >= 1")


def kinematic_urdf(urdf_xml: str) -> str:
    """The URDF reduced to kinematics for MuJoCo: no geometry (no mesh files needed), fixed links kept.

    Only links moved by their own joint get a placeholder inertial when they have none (MuJoCo
    needs mass there); a massless fixed link (a tool frame) stays massless, so the model's mass
    distribution, and with it every Jacobian's rounding, is the URDF's own.
    """
    robot = ET.fromstring(urdf_xml)
    moved = {joint.find("child").get("link") for joint in robot.iter("joint")
             if joint.get("type") in MOVABLE_JOINT_TYPES and joint.find("child") is not None}
    for link in robot.iter("link"):
        for tag in ("visual", "collision"):
            for element in link.findall(tag):
                link.remove(element)
        if link.find("inertial") is None and link.get("name") in moved:
            inertial = ET.SubElement(link, "inertial")
            ET.SubElement(inertial, "mass", value=str(PLACEHOLDER_MASS_KG))
            ET.SubElement(inertial, "inertia", ixx=str(PLACEHOLDER_INERTIA_KG_M2),
                          iyy=str(PLACEHOLDER_INERTIA_KG_M2), izz=str(PLACEHOLDER_INERTIA_KG_M2),
                          ixy="0", ixz="0", iyz="0")
    for element in robot.findall("mujoco"):
        robot.remove(element)
    extension = ET.SubElement(robot, "mujoco")
    ET.SubElement(extension, "compiler", fusestatic="false", discardvisual="true")
    return ET.tostring(robot, encoding="unicode")


class EndEffectorKinematics:
    """Forward kinematics, Jacobian and DLS IK of one link over the arm joints of a URDF.

    The one IK solver: the arbiter's ee_delta action space and the sim's expert both use it. The
    link's pose is read from a site at its origin (MuJoCo's site Jacobian); the rotation error is
    the world-frame rotation vector from the current to the target orientation.
    """

    def __init__(self, urdf_xml: str, arm_joints: Sequence[str], config: IkConfig) -> None:
        mujoco = _mujoco()
        self.config = config
        spec = mujoco.MjSpec.from_string(kinematic_urdf(urdf_xml))
        body = spec.body(config.ee_link)
        if body is None:
            raise ValueError(f"IkConfig.ee_link={config.ee_link!r} is not a link of the URDF")
        body.add_site(name=EE_SITE)
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        self._site = self.model.site(EE_SITE).id
        ids = [mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in arm_joints]
        missing = [j for j, i in zip(arm_joints, ids) if i < 0]
        if missing:
            raise ValueError(f"arm joint(s) {missing} are not movable joints of the URDF")
        self._qpos_adr = np.array([self.model.jnt_qposadr[i] for i in ids], dtype=int)
        self._dof_adr = np.array([self.model.jnt_dofadr[i] for i in ids], dtype=int)
        limited = np.array([bool(self.model.jnt_limited[i]) for i in ids])
        ranges = np.array([self.model.jnt_range[i] for i in ids], dtype=np.float64).reshape(-1, 2)
        self._lower = np.where(limited, ranges[:, 0], -np.inf)
        self._upper = np.where(limited, ranges[:, 1], np.inf)

    def forward(self, arm_positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pose of the end-effector link in the base frame: position (3,) [m], rotation (3, 3)."""
        position, _ = self.forward_quaternion(arm_positions)
        return position, self.data.site_xmat[self._site].reshape(3, 3).copy()

    def forward_quaternion(self, arm_positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pose of the end-effector link: position (3,) [m] and unit quaternion (w, x, y, z)."""
        mujoco = _mujoco()
        self.data.qpos[self._qpos_adr] = arm_positions
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)  # cdof, needed by the Jacobian
        quaternion = np.zeros(4)
        mujoco.mju_mat2Quat(quaternion, self.data.site_xmat[self._site])
        return self.data.site_xpos[self._site].copy(), quaternion

    def solve(self, target_position: np.ndarray, target_quaternion: np.ndarray,
              initial: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Damped least squares IK from ``initial``, clamped to the joint ranges.

        Returns:
            arm joint positions (A,), final position error [m], final rotation error [rad].
        """
        mujoco = _mujoco()
        cfg = self.config
        q = np.clip(np.asarray(initial, dtype=np.float64), self._lower, self._upper)
        jac_pos, jac_rot = np.zeros((3, self.model.nv)), np.zeros((3, self.model.nv))
        lam2 = cfg.damping ** 2
        for _ in range(cfg.max_iterations):
            error = self._pose_error(q, target_position, target_quaternion)
            if np.linalg.norm(error[:3]) < cfg.tolerance_m and np.linalg.norm(error[3:]) < cfg.tolerance_rad:
                break
            mujoco.mj_jacSite(self.model, self.data, jac_pos, jac_rot, self._site)
            jac = np.vstack([jac_pos, jac_rot])[:, self._dof_adr]
            step = jac.T @ np.linalg.solve(jac @ jac.T + lam2 * np.eye(6), error)
            step *= min(1.0, cfg.max_step_rad / (np.abs(step).max() + STEP_EPSILON))
            q = np.clip(q + step, self._lower, self._upper)
        error = self._pose_error(q, target_position, target_quaternion)
        return q, float(np.linalg.norm(error[:3])), float(np.linalg.norm(error[3:]))

    def _pose_error(self, q: np.ndarray, target_position: np.ndarray, target_quaternion: np.ndarray) -> np.ndarray:
        """(6,) position error then world-frame rotation vector, current -> target."""
        mujoco = _mujoco()
        position, quaternion = self.forward_quaternion(q)
        conjugate, difference, rotation_error = np.zeros(4), np.zeros(4), np.zeros(3)
        mujoco.mju_negQuat(conjugate, quaternion)
        mujoco.mju_mulQuat(difference, target_quaternion, conjugate)
        mujoco.mju_quat2Vel(rotation_error, difference, 1.0)
        return np.concatenate([target_position - position, rotation_error])


def matrix_to_quaternion(rotation: np.ndarray) -> np.ndarray:
    """(w, x, y, z) unit quaternion of a (3, 3) rotation matrix (MuJoCo's convention)."""
    quaternion = np.zeros(4)
    _mujoco().mju_mat2Quat(quaternion, np.ascontiguousarray(rotation, dtype=np.float64).reshape(-1))
    return quaternion


def rotation_matrix(rotation_vector: np.ndarray) -> np.ndarray:
    """The rotation matrix of an axis-angle vector (3,) = axis * angle."""
    angle = float(np.linalg.norm(rotation_vector))
    if angle < MIN_ROTATION_RAD:
        return np.eye(3)
    return axangle2mat(rotation_vector / angle, angle)
