# SPDX-License-Identifier: Apache-2.0
"""Action spaces: what a chunk's numbers mean, turned into absolute joint targets (H, D).

* ``joint_position`` (default, ALOHA-style): the chunk already holds absolute joint targets in
  the preset's joint order (gripper included, last).
* ``joint_delta``: row k is the change over step k; targets are cumulative from the measured
  state at the observation: ``q_k = q_obs + sum_{i<=k} delta_i`` (gripper included).
* ``ee_delta`` (LIBERO-style, as the official LIBERO checkpoints output): row k is
  ``[dx, dy, dz, rx, ry, rz, gripper]``, normalised to [-1, 1] and scaled like robosuite's OSC
  controller (``translation_scale_m``, ``rotation_scale_rad``). Translation and the axis-angle
  rotation are in the robot base frame and cumulative from the end-effector pose at the
  observation (``p_k = p_{k-1} + dp_k``, ``R_k = exp(r_k) R_{k-1}``). The gripper command is
  absolute: -1 open, +1 closed, mapped linearly onto the gripper joint's URDF range. Joint targets
  come from damped-least-squares IK on the URDF (MuJoCo compiles the URDF and gives forward
  kinematics and Jacobians), warm-started from the previous step.

Whatever the space, the result goes through the same stitching and limit checks as any chunk.
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

import mujoco
import numpy as np
from transforms3d.axangles import axangle2mat, mat2axangle

from cosmos_policy_ros.control.limits import LimitArrays
from cosmos_policy_ros.presets import ACTION_SPACES, EE_DELTA_NAMES
from cosmos_policy_ros.settings import check_settings, setting
# MuJoCo refuses moving bodies without mass; links without <inertial> get this tiny one
# (kinematics does not depend on it).
PLACEHOLDER_MASS_KG = 1e-3
PLACEHOLDER_INERTIA_KG_M2 = 1e-6
# Rotation angles below this are treated as no rotation (axis undefined).
MIN_ROTATION_RAD = 1e-12


def joint_deltas_to_positions(deltas: np.ndarray, state_at_obs: np.ndarray) -> np.ndarray:
    """Cumulative joint deltas -> absolute targets.

    Args:
        deltas: (H, D) change of each joint over each step.
        state_at_obs: (D,) measured joint positions at the observation.

    Returns:
        (H, D) targets ``state_at_obs + cumsum(deltas)``.
    """
    deltas = np.asarray(deltas, dtype=np.float64)
    state = np.asarray(state_at_obs, dtype=np.float64)
    if deltas.ndim != 2 or state.shape != (deltas.shape[1],):
        raise ValueError(f"deltas shape {deltas.shape} and state shape {state.shape} do not match (H, D)/(D,)")
    return state[None, :] + np.cumsum(deltas, axis=0)


@dataclass(frozen=True)
class IkConfig:
    """End-effector delta scaling and IK settings (defaults: robosuite OSC_POSE as used by LIBERO).

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


def _kinematic_urdf(urdf_xml: str) -> str:
    """The URDF reduced to kinematics for MuJoCo: no geometry (no mesh files needed), fixed links kept."""
    robot = ET.fromstring(urdf_xml)
    for link in robot.iter("link"):
        for tag in ("visual", "collision"):
            for element in link.findall(tag):
                link.remove(element)
        if link.find("inertial") is None:
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
    """Forward kinematics, Jacobian and DLS IK of one link over the arm joints of a URDF."""

    def __init__(self, urdf_xml: str, arm_joints: Sequence[str], config: IkConfig) -> None:
        self.config = config
        self.model = mujoco.MjModel.from_xml_string(_kinematic_urdf(urdf_xml))
        self.data = mujoco.MjData(self.model)
        self._body_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, config.ee_link)
        if self._body_id < 0:
            raise ValueError(f"IkConfig.ee_link={config.ee_link!r} is not a link of the URDF")
        ids = [mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in arm_joints]
        missing = [j for j, i in zip(arm_joints, ids) if i < 0]
        if missing:
            raise ValueError(f"arm joint(s) {missing} are not movable joints of the URDF")
        self._qpos_adr = np.array([self.model.jnt_qposadr[i] for i in ids])
        self._dof_adr = np.array([self.model.jnt_dofadr[i] for i in ids])
        limited = np.array([bool(self.model.jnt_limited[i]) for i in ids])
        ranges = np.array([self.model.jnt_range[i] for i in ids], dtype=np.float64).reshape(-1, 2)
        self._lower = np.where(limited, ranges[:, 0], -np.inf)
        self._upper = np.where(limited, ranges[:, 1], np.inf)

    def forward(self, arm_positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pose of the end-effector link in the base frame: position (3,) [m], rotation (3, 3)."""
        self.data.qpos[self._qpos_adr] = arm_positions
        mujoco.mj_kinematics(self.model, self.data)
        return self.data.xpos[self._body_id].copy(), self.data.xmat[self._body_id].reshape(3, 3).copy()

    def _jacobian(self) -> np.ndarray:
        """(6, A) [linear; angular] Jacobian at the configuration of the last :meth:`forward`."""
        mujoco.mj_comPos(self.model, self.data)
        jac_pos = np.zeros((3, self.model.nv))
        jac_rot = np.zeros((3, self.model.nv))
        mujoco.mj_jacBody(self.model, self.data, jac_pos, jac_rot, self._body_id)
        return np.vstack([jac_pos[:, self._dof_adr], jac_rot[:, self._dof_adr]])

    def solve(self, target_position: np.ndarray, target_rotation: np.ndarray,
              initial: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Damped least squares IK, clamped to the joint ranges.

        Returns:
            arm joint positions (A,), final position error [m], final rotation error [rad].
        """
        cfg = self.config
        q = np.clip(np.asarray(initial, dtype=np.float64), self._lower, self._upper)
        for _ in range(cfg.max_iterations):
            position, rotation = self.forward(q)
            error = np.concatenate([target_position - position, _rotation_vector(target_rotation @ rotation.T)])
            if np.linalg.norm(error[:3]) < cfg.tolerance_m and np.linalg.norm(error[3:]) < cfg.tolerance_rad:
                break
            jac = self._jacobian()
            step = jac.T @ np.linalg.solve(jac @ jac.T + cfg.damping**2 * np.eye(6), error)
            step *= min(1.0, cfg.max_step_rad / max(float(np.max(np.abs(step))), MIN_ROTATION_RAD))
            q = np.clip(q + step, self._lower, self._upper)
        position, rotation = self.forward(q)
        return (q, float(np.linalg.norm(target_position - position)),
                float(np.linalg.norm(_rotation_vector(target_rotation @ rotation.T))))


def _rotation_vector(rotation: np.ndarray) -> np.ndarray:
    """Axis-angle of a rotation matrix as one vector (3,) = axis * angle."""
    axis, angle = mat2axangle(rotation, unit_thresh=1e-5)
    return np.asarray(axis) * angle


def _rotation_matrix(rotation_vector: np.ndarray) -> np.ndarray:
    angle = float(np.linalg.norm(rotation_vector))
    if angle < MIN_ROTATION_RAD:
        return np.eye(3)
    return axangle2mat(rotation_vector / angle, angle)


class ActionSpaceConverter:
    """Turns a chunk in one action space into absolute joint targets in the preset's joint order.

    Args:
        action_space: one of ``presets.ACTION_SPACES``.
        joint_names: the preset's joints (D,), gripper joints included.
        gripper_joints: the subset that are grippers (ee_delta maps its gripper column onto them).
        kinematics: required for ``ee_delta``; its arm joints are ``joint_names`` minus grippers.
        gripper_range: (open, closed) joint positions for ee_delta's -1 / +1 gripper command.
    """

    def __init__(self, action_space: str, joint_names: Sequence[str], gripper_joints: Sequence[str] = (),
                 kinematics: EndEffectorKinematics | None = None,
                 gripper_range: tuple[float, float] | None = None) -> None:
        if action_space not in ACTION_SPACES:
            raise ValueError(f"action_space={action_space!r} must be one of {ACTION_SPACES}")
        if action_space == "ee_delta" and (kinematics is None or gripper_range is None):
            raise ValueError("action_space='ee_delta' needs kinematics and gripper_range")
        self.action_space = action_space
        self.joint_names = tuple(joint_names)
        self._gripper_cols = np.array([self.joint_names.index(j) for j in gripper_joints], dtype=int)
        self._arm_cols = np.array([i for i, j in enumerate(self.joint_names) if j not in gripper_joints])
        self._kinematics = kinematics
        self._gripper_range = gripper_range

    @property
    def action_names(self) -> tuple[str, ...]:
        """Column names a chunk in this space must carry (ActionChunk.joint_names)."""
        return EE_DELTA_NAMES if self.action_space == "ee_delta" else self.joint_names

    def to_joint_positions(self, actions: np.ndarray, state_at_obs: np.ndarray) -> np.ndarray:
        """(H, len(action_names)) actions + (D,) measured state at the observation -> (H, D) targets.

        Raises:
            ValueError: wrong shapes, non-finite values (ee_delta), or IK that does not converge.
        """
        actions = np.asarray(actions, dtype=np.float64)
        if actions.ndim != 2 or actions.shape[1] != len(self.action_names):
            raise ValueError(f"actions shape {actions.shape} does not match (H, {len(self.action_names)})")
        if self.action_space == "joint_position":
            return actions.copy()
        if self.action_space == "joint_delta":
            return joint_deltas_to_positions(actions, state_at_obs)
        return self._ee_deltas_to_positions(actions, np.asarray(state_at_obs, dtype=np.float64))

    def _ee_deltas_to_positions(self, actions: np.ndarray, state: np.ndarray) -> np.ndarray:
        kin, cfg = self._kinematics, self._kinematics.config
        if not np.all(np.isfinite(actions)):
            raise ValueError("ee_delta chunk has non-finite values")
        position, rotation = kin.forward(state[self._arm_cols])
        q_arm = state[self._arm_cols]
        targets = np.repeat(state[None, :], len(actions), axis=0)  # (H, D)
        open_pos, closed_pos = self._gripper_range
        for k, row in enumerate(actions):
            position = position + row[0:3] * cfg.translation_scale_m
            rotation = _rotation_matrix(row[3:6] * cfg.rotation_scale_rad) @ rotation
            q_arm, err_m, err_rad = kin.solve(position, rotation, q_arm)
            if err_m > cfg.reject_error_m or err_rad > cfg.reject_error_rad:
                raise ValueError(f"IK did not reach the end-effector target at step {k} "
                                 f"(error {err_m:.4g} m, {err_rad:.4g} rad): pose unreachable")
            targets[k, self._arm_cols] = q_arm
            closing = (np.clip(row[6], -1.0, 1.0) + 1.0) / 2.0
            targets[k, self._gripper_cols] = open_pos + closing * (closed_pos - open_pos)
        return targets


def converter_for_robot(action_space: str, joints: Sequence[str], gripper_joints: Sequence[str], urdf_xml: str,
                        limits: LimitArrays, ik: IkConfig) -> ActionSpaceConverter:
    """The converter of a robot's action space; ``ee_delta`` gets IK on the URDF and the gripper convention.

    Gripper convention of ``ee_delta``: -1 = open = the gripper joint's upper bound, +1 = closed =
    its lower bound (the sim arm's URDF: gripper_joint is the finger travel, 0 = closed).
    """
    if action_space != "ee_delta":
        return ActionSpaceConverter(action_space, joints, gripper_joints)
    if len(gripper_joints) > 1:
        raise ValueError(f"ee_delta maps one gripper command; preset has {tuple(gripper_joints)}")
    arm = [j for j in joints if j not in gripper_joints]
    col = list(joints).index(gripper_joints[0]) if gripper_joints else 0
    gripper_range = (float(limits.upper[col]), float(limits.lower[col]))
    return ActionSpaceConverter("ee_delta", joints, gripper_joints, EndEffectorKinematics(urdf_xml, arm, ik),
                                gripper_range)
