# SPDX-License-Identifier: Apache-2.0
"""command_arbiter over real DDS: the arbiter runs as a subprocess, this process plays the arm.

The test node publishes joint_states / action_chunk / teleop and listens to the controller topic,
the arbiter's status and shadow topics, and calls its services.
"""
from __future__ import annotations

import math
import signal
import time

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="command_arbiter tests need rclpy")

from sensor_msgs.msg import JointState  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint  # noqa: E402

from cosmos_policy_msgs.msg import ActionChunk, PolicyStatus  # noqa: E402
from cosmos_policy_msgs.srv import SetMode  # noqa: E402
from cosmos_policy_ros.control.limits import parse_joint_limits  # noqa: E402
from cosmos_policy_ros.presets import load_preset  # noqa: E402
from cosmos_policy_ros.ros.conversions import (  # noqa: E402
    duration_to_seconds,
    seconds_to_duration,
    seconds_to_stamp,
    stamp_to_seconds,
)
from cosmos_policy_ros.ros.qos import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS  # noqa: E402

from ros_helpers import SpinningNode, start_node_process, stop_process, wait_for  # noqa: E402

pytestmark = pytest.mark.ros
PRESET = load_preset("sim_arm")
JOINTS = list(PRESET.joints)
URDF_LIMITS = parse_joint_limits(PRESET.urdf_path.read_text())
HOME = np.array([0.0, 0.3, 0.8, 0.4, 0.0, 0.0, 0.02])
DT = PRESET.dt_s
JOINT_STATE_PERIOD_S = 0.02


class ArmHarness:
    """The arbiter subprocess plus an in-process node that plays arm, policy and teleop."""

    def __init__(self, env: dict, **params: str) -> None:
        self.proc = start_node_process("cosmos_policy_ros.ros.command_arbiter", env, params)
        self.spinner = SpinningNode("arbiter_test_harness")
        node = self.node = self.spinner.node
        self.measured = HOME.copy()
        self.commands: list[JointTrajectory] = []
        self.shadow: list[JointTrajectory] = []
        self.statuses: list[PolicyStatus] = []
        self.joint_pub = node.create_publisher(JointState, "joint_states", SENSOR_QOS)
        self.chunk_pub = node.create_publisher(ActionChunk, "action_chunk", COMMAND_QOS)
        self.teleop_pub = node.create_publisher(JointTrajectory, "teleop/joint_trajectory", COMMAND_QOS)
        self.target_pub = node.create_publisher(JointState, "teleop/joint_targets", SENSOR_QOS)
        node.create_subscription(JointTrajectory, "arm_controller/joint_trajectory", self.commands.append,
                                 COMMAND_QOS)
        node.create_subscription(JointTrajectory, "command_arbiter/shadow_trajectory", self.shadow.append,
                                 COMMAND_QOS)
        node.create_subscription(PolicyStatus, "command_arbiter/status", self.statuses.append, LATCHED_QOS)
        self.set_mode_client = node.create_client(SetMode, "command_arbiter/set_mode")
        self.estop_client = node.create_client(Trigger, "command_arbiter/estop")
        self.reset_client = node.create_client(Trigger, "command_arbiter/reset")
        node.create_timer(JOINT_STATE_PERIOD_S, self._publish_joint_state)

    def wait_ready(self) -> None:
        wait_for(lambda: self.statuses and self.node.count_subscribers("action_chunk") > 0
                 and self.node.count_subscribers("teleop/joint_trajectory") > 0
                 and self.node.count_publishers("arm_controller/joint_trajectory") > 0
                 and self.set_mode_client.service_is_ready() and self.estop_client.service_is_ready(),
                 "the arbiter to come up")
        wait_for(lambda: self.node.count_subscribers("joint_states") > 0, "joint_states matched")
        time.sleep(5 * JOINT_STATE_PERIOD_S)  # a few joint states have reached the arbiter

    def now_s(self) -> float:
        return self.spinner.now_s()

    def _publish_joint_state(self) -> None:
        msg = JointState(name=JOINTS, position=self.measured.tolist())
        msg.header.stamp = self.node.get_clock().now().to_msg()
        self.joint_pub.publish(msg)

    def chunk(self, rows: np.ndarray, stamp_s: float, value: float = math.nan,
              names: list[str] | None = None, dt_s: float = DT) -> ActionChunk:
        msg = ActionChunk(joint_names=JOINTS if names is None else names, dt_s=dt_s, value=value,
                          execute_steps=8, model_name="test")
        msg.header.stamp = seconds_to_stamp(stamp_s)
        msg.trajectory.joint_names = msg.joint_names
        msg.trajectory.points = [JointTrajectoryPoint(positions=[float(x) for x in row],
                                                      time_from_start=seconds_to_duration(k * DT))
                                 for k, row in enumerate(rows)]
        return msg

    def teleop(self, rows: np.ndarray, times_s: list[float], names: list[str] | None = None) -> JointTrajectory:
        msg = JointTrajectory(joint_names=JOINTS if names is None else names)  # stamp 0 = now
        msg.points = [JointTrajectoryPoint(positions=[float(x) for x in row],
                                           time_from_start=seconds_to_duration(t))
                      for row, t in zip(rows, times_s)]
        return msg

    def call(self, client, request):
        return self.spinner.call(client, request)

    def set_mode(self, mode: int, reason: str = "test") -> SetMode.Response:
        return self.call(self.set_mode_client, SetMode.Request(mode=mode, reason=reason))

    def status(self) -> PolicyStatus:
        return self.statuses[-1]

    def close(self, stop_signal: int = signal.SIGINT) -> str:
        """Stop the arbiter (it must HOLD on the way out) and tear the test node down."""
        try:
            return stop_process(self.proc, stop_signal)
        finally:
            self.spinner.close()


@pytest.fixture
def harness_factory(ros_domain):
    made: list[ArmHarness] = []

    def make(**params: str) -> ArmHarness:
        harness = ArmHarness(ros_domain.env(), **params)
        made.append(harness)
        harness.wait_ready()
        return harness

    yield make
    for harness in made:
        if harness.proc.poll() is None:
            harness.proc.kill()
        harness.close()


def _assert_stop(traj: JointTrajectory, at: np.ndarray | None = None) -> None:
    """A controlled stop: within the limits, its last point at rest (zero velocity), at ``at`` if given."""
    _assert_within_limits(traj)
    assert all(len(p.velocities) == len(JOINTS) for p in traj.points)  # cubic on JTC, at rest at the end
    np.testing.assert_array_equal(traj.points[-1].velocities, np.zeros(len(JOINTS)))
    if at is not None:
        np.testing.assert_allclose([p.positions for p in traj.points], np.repeat(at[None], len(traj.points), 0),
                                   atol=1e-9)


def _ramp(start: np.ndarray, steps: int = PRESET.chunk_length, rate_rad_s: float = 0.2) -> np.ndarray:
    rows = np.repeat(start[None, :], steps, axis=0)
    rows[:, 0] += rate_rad_s * DT * np.arange(steps)  # slow pan
    return rows


def test_chunk_becomes_time_anchored_trajectory_and_sigterm_holds(harness_factory):
    arm = harness_factory(start_mode="policy")
    stamp_s = arm.now_s() - 0.15  # the observation was taken 150 ms ago: steps 0..1 are past
    rows = _ramp(HOME)
    arm.chunk_pub.publish(arm.chunk(rows, stamp_s))
    wait_for(lambda: arm.commands, "a trajectory on the controller topic")
    traj = arm.commands[0]
    assert traj.joint_names == JOINTS
    assert abs(stamp_to_seconds(traj.header.stamp) - stamp_s) < 1e-6  # anchored to the observation
    tfs = [duration_to_seconds(p.time_from_start) for p in traj.points]
    np.testing.assert_allclose(traj.points[0].positions, HOME)  # seam: the measured state
    first = round(tfs[1] / DT)
    assert first >= 2  # past steps dropped
    np.testing.assert_allclose(tfs[1:], np.arange(first, PRESET.chunk_length) * DT, atol=1e-9)
    np.testing.assert_allclose([p.positions for p in traj.points[1:]], rows[first:])
    assert arm.status().mode == PolicyStatus.MODE_POLICY

    log = arm.close(signal.SIGTERM)  # a stop from systemd/launch: the same HOLD as Ctrl-C
    assert arm.proc.returncode == 0, log
    hold = arm.commands[-1]  # the arbiter commands HOLD before its publisher goes away
    assert len(arm.commands) == 2
    _assert_stop(hold)  # from the running ramp (0.2 rad/s) to rest within the limits
    assert hold.points[-1].positions[0] >= hold.points[0].positions[0] > HOME[0]


def test_nan_chunk_rejected_whole_hold_and_reason(harness_factory):
    arm = harness_factory(start_mode="policy")
    rows = _ramp(HOME)
    rows[9, 2] = math.nan
    arm.chunk_pub.publish(arm.chunk(rows, arm.now_s()))
    wait_for(lambda: arm.status().mode == PolicyStatus.MODE_HOLD, "HOLD after the NaN chunk")
    status = arm.status()
    assert status.rejected_chunks == 1 and "non-finite" in status.reason and "elbow_joint" in status.reason
    wait_for(lambda: arm.commands, "the HOLD command")
    assert len(arm.commands) == 1  # nothing of the chunk passed: a stop where the arm is, at rest
    _assert_stop(arm.commands[0], HOME)
    log = arm.close()  # the operator reads why the arm stopped in the node's log, not only on ~/status
    assert "[WARN]" in log and "mode POLICY -> HOLD: chunk rejected: non-finite" in log, log


def test_chunk_calling_for_teleop_holds_and_status_calls_for_teleop(harness_factory):
    arm = harness_factory(start_mode="policy")  # the arbiter's own value_threshold is off (0)
    msg = arm.chunk(_ramp(HOME), arm.now_s(), value=0.3)
    msg.call_for_teleop = True  # set by policy_node from its run-time value_threshold
    arm.chunk_pub.publish(msg)
    wait_for(lambda: arm.status().call_for_teleop, "the call for teleop in the status")
    status = arm.status()
    assert status.mode == PolicyStatus.MODE_HOLD and "calls for teleop" in status.reason, status.reason
    assert status.rejected_chunks == 0
    wait_for(lambda: arm.commands, "the HOLD command")
    assert len(arm.commands) == 1  # nothing of the chunk passed: a stop where the arm is, at rest
    _assert_stop(arm.commands[0], HOME)
    assert arm.set_mode(SetMode.Request.MODE_TELEOP, "operator answers").success
    wait_for(lambda: not arm.status().call_for_teleop, "the call cleared by the operator")


def test_watchdog_holds_at_the_execution_horizon_then_the_next_chunk_resumes(harness_factory):
    arm = harness_factory(start_mode="policy", **{"watchdog.margin_s": "0.1"})
    stamp_s = arm.now_s()
    arm.chunk_pub.publish(arm.chunk(_ramp(HOME), stamp_s))  # execute_steps 8 of 16
    wait_for(lambda: arm.commands, "the policy trajectory")
    horizon_end_s = stamp_s + 8 * DT
    chunk_end_s = stamp_s + (PRESET.chunk_length - 1) * DT
    wait_for(lambda: len(arm.commands) == 2, "the watchdog hold")
    hold = arm.commands[1]
    hold_s = stamp_to_seconds(hold.header.stamp)
    _assert_stop(hold)
    assert horizon_end_s + 0.1 < hold_s < chunk_end_s  # not the look-ahead
    # the status follows the command on its own topic: wait for it rather than race it
    wait_for(lambda: "starved" in arm.status().reason, "the starved status")
    status = arm.status()
    assert status.mode == PolicyStatus.MODE_POLICY and "watchdog" in status.reason and status.deadline_misses == 1
    arm.measured = np.array(hold.points[-1].positions)  # the arm stopped there
    time.sleep(5 * JOINT_STATE_PERIOD_S)
    arm.chunk_pub.publish(arm.chunk(_ramp(arm.measured), arm.now_s()))  # a late policy catches up
    wait_for(lambda: len(arm.commands) == 3, "the resumed policy trajectory")
    resumed = arm.commands[2]
    assert len(resumed.points) > 1
    np.testing.assert_allclose(resumed.points[0].positions, arm.measured)  # bumpless from the measured state
    wait_for(lambda: "resumed" in arm.status().reason, "the resumed status")


def test_estop_blocks_everything_until_reset_then_teleop_passes(harness_factory):
    arm = harness_factory(start_mode="teleop")
    target = HOME + np.array([0.02, 0, 0, 0, 0, 0, 0])
    arm.teleop_pub.publish(arm.teleop(target[None, :], [0.2]))
    wait_for(lambda: arm.commands, "teleop passthrough")
    np.testing.assert_allclose(arm.commands[-1].points[-1].positions, target)

    assert arm.call(arm.estop_client, Trigger.Request()).success
    wait_for(lambda: arm.status().mode == PolicyStatus.MODE_ESTOP, "ESTOP status")
    wait_for(lambda: len(arm.commands) == 2, "the ESTOP hold")
    for _ in range(20):  # teleop, targets and chunks: none may pass
        arm.teleop_pub.publish(arm.teleop(target[None, :], [0.2]))
        arm.target_pub.publish(JointState(name=JOINTS, position=target.tolist()))
        arm.chunk_pub.publish(arm.chunk(_ramp(HOME), arm.now_s()))
        time.sleep(0.02)
    assert not arm.set_mode(SetMode.Request.MODE_TELEOP).success
    assert not arm.set_mode(SetMode.Request.MODE_POLICY).success
    assert len(arm.commands) == 2 and arm.status().mode == PolicyStatus.MODE_ESTOP

    assert arm.call(arm.reset_client, Trigger.Request()).success
    wait_for(lambda: arm.status().mode == PolicyStatus.MODE_HOLD, "HOLD after reset")
    assert arm.set_mode(SetMode.Request.MODE_TELEOP, "operator").mode == SetMode.Request.MODE_TELEOP
    count = len(arm.commands)
    arm.target_pub.publish(JointState(name=JOINTS, position=target.tolist()))
    wait_for(lambda: len(arm.commands) > count, "teleop joint target after reset")
    np.testing.assert_allclose(arm.commands[-1].points[-1].positions, target)


def test_shadow_mode_never_reaches_the_controller(harness_factory):
    arm = harness_factory(start_mode="teleop", shadow_mode="true")
    wait_for(lambda: arm.node.count_publishers("command_arbiter/shadow_trajectory") > 0, "the shadow topic")
    arm.chunk_pub.publish(arm.chunk(_ramp(HOME), arm.now_s()))
    wait_for(lambda: arm.shadow, "the shadow trajectory")
    assert arm.commands == [] and not arm.set_mode(SetMode.Request.MODE_POLICY).success


def _assert_within_limits(traj: JointTrajectory) -> None:
    assert traj.joint_names == JOINTS
    positions = np.array([p.positions for p in traj.points])  # (n, D)
    assert positions.shape[1] == len(JOINTS) and np.all(np.isfinite(positions))
    lower = np.array([URDF_LIMITS[j].lower for j in JOINTS])
    upper = np.array([URDF_LIMITS[j].upper for j in JOINTS])
    assert np.all(positions >= lower - 1e-6) and np.all(positions <= upper + 1e-6), positions
    tfs = np.array([duration_to_seconds(p.time_from_start) for p in traj.points])
    if len(tfs) > 1:
        velocity = np.abs(np.diff(positions, axis=0)) / np.diff(tfs)[:, None]
        arm_cols = [i for i, j in enumerate(JOINTS) if j not in PRESET.gripper_joints]
        limit = np.array([URDF_LIMITS[JOINTS[i]].velocity for i in arm_cols])
        assert np.all(velocity[:, arm_cols] <= limit * (1 + 1e-4)), velocity


def _malformed_rows(rng: np.random.Generator, case: int) -> tuple[list[str], np.ndarray]:
    """One malformed (or borderline) set of rows: wrong lengths, NaN/inf, unknown joints, huge values."""
    rows = _ramp(HOME, steps=int(rng.integers(1, 20)))
    names = list(JOINTS)
    kind = case % 7
    if kind == 0:
        rows = rows[:, : int(rng.integers(0, len(JOINTS)))]
    elif kind == 1:
        rows[rng.integers(len(rows)), rng.integers(len(JOINTS))] = rng.choice([np.nan, np.inf, -np.inf])
    elif kind == 2:
        names[int(rng.integers(len(names)))] = "unknown_joint"
    elif kind == 3:
        rows = rows[:0]
    elif kind == 4:
        rows[:, int(rng.integers(len(JOINTS)))] += rng.choice([-1, 1]) * rng.uniform(0.5, 50.0)
    elif kind == 5:
        rows = rows + rng.normal(0.0, 0.3, size=rows.shape)
    else:
        names = names[::-1]  # valid: reordered columns must be mapped by name
        rows = rows[:, ::-1]
    return names, rows


def test_fuzz_malformed_inputs_never_crash_or_command_out_of_limits(harness_factory):
    arm = harness_factory(start_mode="policy")
    rng = np.random.default_rng(7)
    far = [-1e9, -3600.0, 0.0, 3600.0, 1e9]
    sent = 0
    for case in range(1050):
        names, rows = _malformed_rows(rng, case)
        channel = case % 3
        stamp_s = arm.now_s() + (far[case % len(far)] if case % 4 == 0 else 0.0)
        if channel == 0:
            msg = arm.chunk(rows, stamp_s, names=names, dt_s=float(rng.choice([DT, 0.0, -1.0, math.nan])))
            if case % 5 == 0:
                msg.trajectory.points[:1] = [JointTrajectoryPoint(positions=[1.0] * 3)] if rows.size else []
            arm.chunk_pub.publish(msg)
        elif channel == 1:
            js = JointState(name=names, position=[float(x) for x in (rows[0] if len(rows) else [])])
            js.header.stamp = seconds_to_stamp(max(0.0, stamp_s))
            arm.joint_pub.publish(js)
        else:
            times = sorted(rng.uniform(-1.0, 2.0, size=len(rows)).tolist())
            arm.teleop_pub.publish(arm.teleop(rows, times, names=names))
        sent += 1
        if case % 10 == 0:  # leave HOLD often, so chunks and teleop keep reaching the checks
            arm.set_mode([SetMode.Request.MODE_POLICY, SetMode.Request.MODE_TELEOP][(case // 10) % 2])
        time.sleep(0.002)
    assert sent >= 1000
    assert arm.proc.poll() is None, "the arbiter died"
    # still alive and serving: a valid chunk passes after re-entering POLICY
    time.sleep(5 * JOINT_STATE_PERIOD_S)  # the harness's own joint states are the newest again
    arm.set_mode(SetMode.Request.MODE_POLICY)
    count = len(arm.commands)
    arm.chunk_pub.publish(arm.chunk(_ramp(HOME), arm.now_s()))
    wait_for(lambda: len(arm.commands) > count, "a valid chunk after the fuzz")
    status = arm.status()
    assert status.rejected_chunks > 0
    passed = [t for t in arm.commands if len(t.points) > 1]  # accepted chunks/teleop, not holds
    print(f"fuzz: {len(arm.commands)} commands, {len(passed)} multi-point, "
          f"{status.rejected_chunks} rejected chunks, {status.deadline_misses} deadline misses")
    assert len(passed) > 1  # borderline-valid inputs did pass, so the checks above saw real output
    for traj in list(arm.commands):
        _assert_within_limits(traj)


def test_mode_values_match_the_message_constants():
    from cosmos_policy_ros.control.modes import Mode
    for mode in Mode:
        assert getattr(PolicyStatus, f"MODE_{mode.name}") == mode.value
        assert getattr(SetMode.Request, f"MODE_{mode.name}") == mode.value
