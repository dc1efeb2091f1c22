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
  come from damped-least-squares IK on the URDF (:mod:`.kinematics`, the solver the sim shares),
  warm-started from the previous step.

Whatever the space, the result goes through the same stitching and limit checks as any chunk.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cosmos_policy_ros.control.kinematics import (EndEffectorKinematics, IkConfig, matrix_to_quaternion,
                                                  rotation_matrix)
from cosmos_policy_ros.control.limits import LimitArrays
from cosmos_policy_ros.presets import ACTION_SPACES, EE_DELTA_NAMES


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
            rotation = rotation_matrix(row[3:6] * cfg.rotation_scale_rad) @ rotation
            q_arm, err_m, err_rad = kin.solve(position, matrix_to_quaternion(rotation), q_arm)
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
