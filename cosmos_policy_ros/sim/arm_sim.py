# SPDX-License-Identifier: Apache-2.0
"""The simulated arm: MuJoCo physics driven by a joint-trajectory follower, plus rendering.

ROS-free. :class:`ArmSim` behaves like a position-controlled arm behind ros2_control: a
:class:`~cosmos_policy_ros.sim.trajectory_follower.TrajectoryFollower` turns trajectories into a
position reference that the PD actuators track at every physics step. Time is the simulation
clock (``time_s``, starting at 0 on every reset). Rendering is offscreen (``MUJOCO_GL=egl`` works
headless on CPU through Mesa); a renderer is created per camera on first use, in the calling thread,
so render from one thread only.
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from cosmos_policy_ros.sim.scene import (
    BIN_BODY,
    COMMANDED_JOINTS,
    GRIPPER_JOINT,
    GRIPPER_LINKS,
    TOOL_SITE,
    SceneConfig,
    build_model,
)
from cosmos_policy_ros.sim.trajectory_follower import (
    CommandResult,
    FollowerConfig,
    TrajectoryCommand,
    TrajectoryFollower,
)

# Ready pose: hand above the table centre, fingers pointing down, gripper open.
HOME_POSITIONS = np.array([0.0, 0.25, 1.75, 1.1416, 0.0, 0.0, 0.04])


@dataclass(frozen=True)
class Pose:
    """A rigid pose: (3,) position [m] and (4,) unit quaternion (w, x, y, z), world frame."""

    position: np.ndarray
    quaternion: np.ndarray

    @property
    def rotation(self) -> np.ndarray:
        """(3, 3) rotation matrix."""
        matrix = np.zeros(9)
        mujoco.mju_quat2Mat(matrix, self.quaternion)
        return matrix.reshape(3, 3)


class ArmSim:
    """MuJoCo world of the sim_arm with a JTC-like trajectory follower.

    Args:
        config: scene geometry, physics and cameras.
        follower_config: trajectory follower options.
    """

    def __init__(self, config: SceneConfig = SceneConfig(),
                 follower_config: FollowerConfig = FollowerConfig()) -> None:
        self.config = config
        self.model = build_model(config)
        self.data = mujoco.MjData(self.model)
        self.joint_names: tuple[str, ...] = COMMANDED_JOINTS
        joints = [self.model.joint(name) for name in self.joint_names]
        self._qpos_addr = np.array([j.qposadr[0] for j in joints])
        self._dof_addr = np.array([j.dofadr[0] for j in joints])
        self._actuators = np.array([self.model.actuator(f"{n}_position").id for n in self.joint_names])
        self._gripper_bodies = {self.model.body(name).id for name in GRIPPER_LINKS}
        # Velocity feed-forward, as a real position drive has: shifting the PD set-point by
        # v_ref * (kv + damping) / kp cancels the lag a pure PD shows on a ramp.
        kp = -self.model.actuator_biasprm[self._actuators, 1]
        kv = -self.model.actuator_biasprm[self._actuators, 2]
        self._feedforward_s = (kv + self.model.dof_damping[self._dof_addr]) / kp
        self._ctrl_range = self.model.actuator_ctrlrange[self._actuators].T  # (2, 7)
        self.follower = TrajectoryFollower(self.joint_names, HOME_POSITIONS, follower_config)
        self._renderers: dict[str, mujoco.Renderer] = {}
        self.reset()

    # --- time and control ---------------------------------------------------------------------
    @property
    def time_s(self) -> float:
        """Simulation time since the last reset [s]."""
        return float(self.data.time)

    @property
    def timestep_s(self) -> float:
        return float(self.model.opt.timestep)

    def reset(self, joint_positions: np.ndarray = HOME_POSITIONS,
              body_poses: dict[str, Pose] | None = None) -> None:
        """Reset physics to time 0 with the arm at rest at ``joint_positions`` (holding them)."""
        mujoco.mj_resetData(self.model, self.data)
        positions = np.asarray(joint_positions, dtype=np.float64)
        self.data.qpos[self._qpos_addr] = positions
        self.data.qpos[self.model.joint("right_finger_joint").qposadr[0]] = positions[-1]
        for name, pose in (body_poses or {}).items():
            self.set_body_pose(name, pose)
        self.follower.reset(positions)
        self.data.ctrl[self._actuators] = positions
        mujoco.mj_forward(self.model, self.data)

    def set_body_pose(self, name: str, pose: Pose) -> None:
        """Place a free block or the (mocap) bin; call before stepping."""
        body = self.model.body(name)
        if body.mocapid[0] >= 0:
            self.data.mocap_pos[body.mocapid[0]] = pose.position
            self.data.mocap_quat[body.mocapid[0]] = pose.quaternion
            return
        joint_id = self.model.body_jntadr[body.id]
        if joint_id < 0 or self.model.jnt_type[joint_id] != mujoco.mjtJoint.mjJNT_FREE:
            raise ValueError(f"body {name!r} is neither free nor mocap; it cannot be placed")
        address = self.model.jnt_qposadr[joint_id]
        self.data.qpos[address:address + 3] = pose.position
        self.data.qpos[address + 3:address + 7] = pose.quaternion
        self.data.qvel[self.model.jnt_dofadr[joint_id]:self.model.jnt_dofadr[joint_id] + 6] = 0.0

    def command(self, trajectory: TrajectoryCommand) -> CommandResult:
        """Hand a trajectory (times on the sim clock) to the follower; see its rules."""
        return self.follower.command(trajectory, self.time_s)

    def step(self, duration_s: float) -> None:
        """Advance physics by ``duration_s`` (rounded to whole steps), tracking the reference."""
        for _ in range(max(1, int(round(duration_s / self.timestep_s)))):
            reference = self.follower.sample(self.time_s)
            set_point = reference.positions + self._feedforward_s * reference.velocities
            self.data.ctrl[self._actuators] = np.clip(set_point, *self._ctrl_range)
            mujoco.mj_step(self.model, self.data)

    # --- state ---------------------------------------------------------------------------------
    def joint_positions(self) -> np.ndarray:
        """(7,) measured positions of the commanded joints [rad, gripper m]."""
        return self.data.qpos[self._qpos_addr].copy()

    def joint_velocities(self) -> np.ndarray:
        """(7,) measured velocities [rad/s, gripper m/s]."""
        return self.data.qvel[self._dof_addr].copy()

    def joint_efforts(self) -> np.ndarray:
        """(7,) actuator forces [N m, gripper N]."""
        return self.data.actuator_force[self._actuators].copy()

    def body_pose(self, name: str) -> Pose:
        """World pose of a body (block, ``bin``, links)."""
        body = self.data.body(name)
        return Pose(body.xpos.copy(), body.xquat.copy())

    def tool_pose(self) -> Pose:
        """World pose of the tool centre point (between the fingertips, z = approach)."""
        site = self.data.site(TOOL_SITE)
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, site.xmat)
        return Pose(site.xpos.copy(), quat)

    def bin_pose(self) -> Pose:
        return self.body_pose(BIN_BODY)

    def gripper_gap_m(self) -> float:
        """Distance between the fingers (twice ``gripper_joint``)."""
        return 2.0 * float(self.data.qpos[self.model.joint(GRIPPER_JOINT).qposadr[0]])

    def gripper_touches(self, body_name: str) -> bool:
        """Whether any hand or finger geom is in contact with ``body_name``."""
        return bool(self.contacting_bodies(body_name) & self._gripper_bodies)

    def contacting_bodies(self, body_name: str) -> set[int]:
        """Ids of the bodies whose geoms touch ``body_name`` now."""
        target = self.model.body(body_name).id
        touching = set()
        for contact in self.data.contact[:self.data.ncon]:
            b1, b2 = self.model.geom_bodyid[contact.geom1], self.model.geom_bodyid[contact.geom2]
            if b1 == target:
                touching.add(int(b2))
            elif b2 == target:
                touching.add(int(b1))
        return touching

    # --- rendering -----------------------------------------------------------------------------
    def render(self, camera: str) -> np.ndarray:
        """(H, W, 3) uint8 RGB image of ``camera`` at its configured resolution."""
        renderer = self._renderers.get(camera)
        if renderer is None:
            spec = next((c for c in self.config.cameras if c.name == camera), None)
            if spec is None:
                raise ValueError(f"unknown camera {camera!r}; have {[c.name for c in self.config.cameras]}")
            renderer = mujoco.Renderer(self.model, spec.height, spec.width)
            self._renderers[camera] = renderer
        renderer.update_scene(self.data, camera=camera)
        return renderer.render()

    def close(self) -> None:
        """Free the rendering contexts."""
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()
