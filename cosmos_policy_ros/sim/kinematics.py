# SPDX-License-Identifier: Apache-2.0
"""The sim_arm's tool kinematics for the scripted expert, on the one IK solver (``control.kinematics``).

ROS-free. The expert runs this on a kinematics-only model (no scene), so it works from joint
states alone, like a teleoperation device's IK would; poses are :class:`~cosmos_policy_ros.sim.arm_sim.Pose`
(position + quaternion) as the sim reports them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from cosmos_policy_ros.control.kinematics import EndEffectorKinematics, IkConfig
from cosmos_policy_ros.sim.arm_sim import Pose
from cosmos_policy_ros.sim.scene import ARM_JOINTS, DEFAULT_URDF, TOOL_BODY

# The expert's IK: looser tolerances and larger steps than the arbiter's ee_delta defaults (it
# re-solves every control tick, from the measured state, so a few tenths of a mm are plenty).
SIM_IK = IkConfig(ee_link=TOOL_BODY, max_iterations=30, tolerance_m=5e-4, tolerance_rad=5e-3, max_step_rad=0.3)


@dataclass(frozen=True)
class IkResult:
    """(6,) arm joint positions and the remaining errors."""

    joint_positions: np.ndarray
    position_error_m: float
    rotation_error_rad: float


class ArmKinematics:
    """Kinematics of the six arm joints (the gripper does not move the tool).

    Args:
        urdf_path: robot description.
        config: IK options (the tool link is ``config.ee_link``).
    """

    def __init__(self, urdf_path: Path = DEFAULT_URDF, config: IkConfig = SIM_IK) -> None:
        self.urdf_path = Path(urdf_path)
        self.config = config
        self._solver = EndEffectorKinematics(self.urdf_path.read_text(encoding="utf-8"), ARM_JOINTS, config)

    def forward(self, arm_positions: np.ndarray) -> Pose:
        """Tool pose for (6,) arm joint positions."""
        return Pose(*self._solver.forward_quaternion(np.asarray(arm_positions, dtype=np.float64)[:len(ARM_JOINTS)]))

    def solve(self, target: Pose, seed_positions: np.ndarray) -> IkResult:
        """Arm joint positions that put the tool at ``target``, starting from (6,) ``seed_positions``."""
        seed = np.asarray(seed_positions, dtype=np.float64)[:len(ARM_JOINTS)]
        q, error_m, error_rad = self._solver.solve(np.asarray(target.position, dtype=np.float64), target.quaternion,
                                                   seed)
        return IkResult(q, error_m, error_rad)


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
