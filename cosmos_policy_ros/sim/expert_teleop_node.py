# SPDX-License-Identifier: Apache-2.0
"""expert_teleop: the scripted expert playing a human teleoperator over ROS.

Reads ``joint_states`` and the privileged ``sim/object_poses`` (target block first, bin second;
see ``tasks.Episode.object_order``) and publishes on ``teleop/joint_trajectory`` what a teleop
device or leader arm would send: at ``control_rate_hz``, a one-point JointTrajectory stamped now,
due ``command_lead_s`` later (long enough to survive the transport delay: the command arbiter
drops points due within its latency margin), for all preset joints (gripper last, finger travel
per side [m]). The command arbiter passes it on to the arm in TELEOP mode and checks it like any
command; so a target never jumps: it starts from the MEASURED joint state, moves within the URDF
velocity limits and stays within half the preset's ``max_joint_jump_rad`` of the measured state
(see :class:`~cosmos_policy_ros.sim.expert.ExpertConfig`), also while the arbiter ignores it.

A new episode starts (the expert re-plans) when ``~/reset`` is called or when ``task``, ``seed``
or ``enabled`` change; the demo calls it right after ``/sim_arm/reset_task``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from geometry_msgs.msg import PoseArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from cosmos_policy_ros.presets import load_preset
from cosmos_policy_ros.ros.conversions import joint_state_to_vector, seconds_to_duration
from cosmos_policy_ros.ros.node_main import run_node
from cosmos_policy_ros.ros.params import NodeParams, ParamSpec
from cosmos_policy_ros.ros.qos import COMMAND_QOS, SENSOR_QOS
from cosmos_policy_ros.sim.arm_sim import Pose
from cosmos_policy_ros.sim.expert import ExpertConfig, ExpertObservation, ScriptedExpert
from cosmos_policy_ros.sim.kinematics import ArmKinematics
from cosmos_policy_ros.sim.tasks import TASKS

NODE_NAME = "expert_teleop"
LOG_THROTTLE_S = 5.0
RESTART_PARAMS = ("task", "seed", "enabled")
# Targets stay within this share of the preset's max_joint_jump_rad around the measured state:
# the arbiter measures the jump from its commanded state, which may itself lead the measurement.
TARGET_OFFSET_SHARE = 0.5


@dataclass(frozen=True)
class ExpertTeleopParams(NodeParams):
    """The node's parameters; the perturbation ones map to :class:`ExpertConfig` fields."""

    SPECS: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("robot", "sim_arm", "Robot preset (joint names and order).", read_only=True),
        ParamSpec("task", "reach", "Task the expert solves.", choices=tuple(TASKS)),
        ParamSpec("seed", 0, "Seed of the expert's random choices for this episode.", min_value=0),
        ParamSpec("enabled", True, "Publish teleop commands."),
        ParamSpec("control_rate_hz", 10.0, "Command rate [Hz].", read_only=True,
                  min_value=1.0, max_value=100.0),
        ParamSpec.of("command_lead_s", ExpertConfig, "command_lead_s"),
        ParamSpec.of("speed_mps", ExpertConfig, "speed_mps"),
        ParamSpec.of("yaw_rate_rad_s", ExpertConfig, "yaw_rate_rad_s"),
        ParamSpec.of("noise.action_noise_rad", ExpertConfig, "action_noise_rad"),
        ParamSpec.of("noise.detour_probability", ExpertConfig, "detour_probability"),
        ParamSpec.of("noise.wrong_grasp_probability", ExpertConfig, "wrong_grasp_probability"),
        ParamSpec.of("noise.early_stop_probability", ExpertConfig, "early_stop_probability"),
    )
    robot: str
    task: str
    seed: int
    enabled: bool
    control_rate_hz: float
    command_lead_s: float
    speed_mps: float
    yaw_rate_rad_s: float
    noise_action_noise_rad: float
    noise_detour_probability: float
    noise_wrong_grasp_probability: float
    noise_early_stop_probability: float

    def expert_config(self, max_joint_jump_rad: float) -> ExpertConfig:
        """The expert's settings; targets stay within a share of the preset's ``max_joint_jump_rad``."""
        return ExpertConfig(control_dt_s=1.0 / self.control_rate_hz, speed_mps=self.speed_mps,
                            yaw_rate_rad_s=self.yaw_rate_rad_s,
                            command_lead_s=self.command_lead_s,
                            max_target_offset_rad=TARGET_OFFSET_SHARE * max_joint_jump_rad,
                            action_noise_rad=self.noise_action_noise_rad,
                            detour_probability=self.noise_detour_probability,
                            wrong_grasp_probability=self.noise_wrong_grasp_probability,
                            early_stop_probability=self.noise_early_stop_probability)


class ExpertTeleopNode(Node):
    """Scripted expert -> teleop JointTrajectory commands."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        ExpertTeleopParams.declare(self)
        self.params = ExpertTeleopParams.from_node(self)
        self.preset = load_preset(self.params.robot)
        self._kinematics = ArmKinematics(self.preset.urdf_path)
        self._joint_positions: np.ndarray | None = None
        self._object_poses: list[Pose] = []
        self._restart()
        self._teleop_pub = self.create_publisher(JointTrajectory, self.preset.teleop_topic, COMMAND_QOS)
        self.create_subscription(JointState, self.preset.joint_states_topic, self._on_joint_state, SENSOR_QOS)
        self.create_subscription(PoseArray, "sim/object_poses", self._on_object_poses, SENSOR_QOS)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self._restart_pending = False
        self.add_on_set_parameters_callback(self._on_params_set)
        self.create_timer(1.0 / self.params.control_rate_hz, self._on_tick)

    def _restart(self) -> None:
        """New episode: a fresh expert for the current task and seed (it plans on its first step)."""
        self.params = ExpertTeleopParams.from_node(self)
        config = self.params.expert_config(self.preset.max_joint_jump_rad)
        self._expert = ScriptedExpert(self.params.task, self._kinematics, config)
        self._expert.reset(self.params.seed)
        self._object_poses = []  # wait for poses of the new scene

    def _on_params_set(self, params: list[Parameter]) -> SetParametersResult:
        """Restart on the next tick (values are set only after on-set callbacks return; Humble has
        no post-set callback)."""
        if any(p.name in RESTART_PARAMS for p in params):
            self._restart_pending = True
        return SetParametersResult(successful=True)

    def _on_reset(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self._restart()
        response.success = True
        response.message = f"expert restarted: task {self.params.task}, seed {self.params.seed}"
        return response

    def _on_joint_state(self, msg: JointState) -> None:
        try:
            self._joint_positions = joint_state_to_vector(msg, self.preset.joints)
        except ValueError as error:  # keep the last good state; the expert acts on that
            self.get_logger().warning(f"ignoring joint state: {error}", throttle_duration_sec=LOG_THROTTLE_S)

    def _on_object_poses(self, msg: PoseArray) -> None:
        self._object_poses = [
            Pose(np.array([p.position.x, p.position.y, p.position.z]),
                 np.array([p.orientation.w, p.orientation.x, p.orientation.y, p.orientation.z]))
            for p in msg.poses]

    def _on_tick(self) -> None:
        if self._restart_pending:
            self._restart_pending = False
            self._restart()
        if not self.params.enabled or self._joint_positions is None or len(self._object_poses) < 2:
            return
        obs = ExpertObservation(self._joint_positions, self._object_poses[0], self._object_poses[1])
        targets = self._expert.act(obs)
        msg = JointTrajectory(joint_names=list(self.preset.joints))
        msg.header.stamp = self.get_clock().now().to_msg()
        due_in = seconds_to_duration(self.params.command_lead_s)
        msg.points = [JointTrajectoryPoint(positions=targets.tolist(), time_from_start=due_in)]
        self._teleop_pub.publish(msg)


def main(args: list[str] | None = None) -> None:
    """Portable main (Humble to Kilted); SIGTERM stops it like SIGINT."""
    run_node(ExpertTeleopNode, args, num_threads=1)


if __name__ == "__main__":
    main()
