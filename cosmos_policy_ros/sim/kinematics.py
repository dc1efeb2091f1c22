# SPDX-License-Identifier: Apache-2.0
"""Forward and inverse kinematics of the sim_arm from its URDF, with MuJoCo's own Jacobians.

ROS-free. The expert runs this on a kinematics-only model (no scene), so it works from joint
states alone, like a teleoperation device's IK would. IK is damped least squares on the tool
site's 6-D pose error, warm-started from a seed configuration (so consecutive solutions stay on
the same branch and the result is deterministic).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from cosmos_policy_ros.sim.arm_sim import Pose
from cosmos_policy_ros.sim.scene import ARM_JOINTS, DEFAULT_URDF, TOOL_BODY, TOOL_SITE


@dataclass(frozen=True)
class IkConfig:
    """Damped-least-squares IK options.

    Args:
        max_iterations: Newton steps per solve.
        damping: DLS damping lambda (larger = smoother near singularities, slower convergence).
        position_tolerance_m: stop when the position error is below this...
        rotation_tolerance_rad: ...and the rotation error below this.
        max_step_rad: largest joint change per iteration.
    """

    max_iterations: int = 30
    damping: float = 0.05
    position_tolerance_m: float = 5e-4
    rotation_tolerance_rad: float = 5e-3
    max_step_rad: float = 0.3

    def __post_init__(self) -> None:
        if self.max_iterations < 1:
            raise ValueError(f"IkConfig.max_iterations={self.max_iterations} must be >= 1")
        if self.damping <= 0 or self.max_step_rad <= 0:
            raise ValueError(f"IkConfig.damping={self.damping} and max_step_rad={self.max_step_rad} "
                             "must be > 0")


@dataclass(frozen=True)
class IkResult:
    """(6,) arm joint positions and the remaining errors."""

    joint_positions: np.ndarray
    position_error_m: float
    rotation_error_rad: float


class ArmKinematics:
    """Kinematics of the six arm joints (the gripper does not move the tool site).

    Args:
        urdf_path: robot description.
        config: IK options.
    """

    def __init__(self, urdf_path: Path = DEFAULT_URDF, config: IkConfig = IkConfig()) -> None:
        self.urdf_path = Path(urdf_path)
        spec = mujoco.MjSpec.from_file(str(urdf_path))
        spec.body(TOOL_BODY).add_site(name=TOOL_SITE)
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        self.config = config
        joints = [self.model.joint(name) for name in ARM_JOINTS]
        self._qpos_addr = np.array([j.qposadr[0] for j in joints])
        self._dof_addr = np.array([j.dofadr[0] for j in joints])
        self._lower, self._upper = self.model.jnt_range[[j.id for j in joints]].T
        self._site = self.model.site(TOOL_SITE).id

    def forward(self, arm_positions: np.ndarray) -> Pose:
        """Tool pose for (6,) arm joint positions."""
        self.data.qpos[self._qpos_addr] = arm_positions[:len(ARM_JOINTS)]
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)  # cdof, needed by mj_jacSite
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, self.data.site_xmat[self._site])
        return Pose(self.data.site_xpos[self._site].copy(), quat)

    def solve(self, target: Pose, seed_positions: np.ndarray) -> IkResult:
        """Arm joint positions that put the tool at ``target``, starting from (6,) ``seed_positions``."""
        q = np.clip(np.asarray(seed_positions, dtype=np.float64)[:len(ARM_JOINTS)], self._lower, self._upper)
        jac_pos, jac_rot = np.zeros((3, self.model.nv)), np.zeros((3, self.model.nv))
        lam2 = self.config.damping ** 2
        for _ in range(self.config.max_iterations):
            error = self._pose_error(q, target)  # (6,) position then rotation, world frame
            if (np.linalg.norm(error[:3]) < self.config.position_tolerance_m
                    and np.linalg.norm(error[3:]) < self.config.rotation_tolerance_rad):
                break
            mujoco.mj_jacSite(self.model, self.data, jac_pos, jac_rot, self._site)
            jac = np.vstack([jac_pos, jac_rot])[:, self._dof_addr]  # (6, 6)
            step = jac.T @ np.linalg.solve(jac @ jac.T + lam2 * np.eye(6), error)
            step *= min(1.0, self.config.max_step_rad / (np.abs(step).max() + 1e-12))
            q = np.clip(q + step, self._lower, self._upper)
        error = self._pose_error(q, target)
        return IkResult(q, float(np.linalg.norm(error[:3])), float(np.linalg.norm(error[3:])))

    def _pose_error(self, q: np.ndarray, target: Pose) -> np.ndarray:
        current = self.forward(q)
        rotation_error = np.zeros(3)
        difference = np.zeros(4)
        conjugate = np.zeros(4)
        mujoco.mju_negQuat(conjugate, current.quaternion)
        mujoco.mju_mulQuat(difference, target.quaternion, conjugate)
        mujoco.mju_quat2Vel(rotation_error, difference, 1.0)
        return np.concatenate([target.position - current.position, rotation_error])


def downward_pose(position: np.ndarray, yaw_rad: float) -> Pose:
    """Tool pose pointing straight down (tool z = -world z) with its x axis at ``yaw_rad``."""
    cos_yaw, sin_yaw = np.cos(yaw_rad), np.sin(yaw_rad)
    rotation = np.array([[cos_yaw, sin_yaw, 0.0],
                         [sin_yaw, -cos_yaw, 0.0],
                         [0.0, 0.0, -1.0]])  # columns: x, y = z cross x, z
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, rotation.reshape(-1))
    return Pose(np.asarray(position, dtype=np.float64), quat)


def tool_yaw(pose: Pose) -> float:
    """Yaw of the tool's x axis in the world xy plane [rad]."""
    rotation = pose.rotation
    return float(np.arctan2(rotation[1, 0], rotation[0, 0]))
