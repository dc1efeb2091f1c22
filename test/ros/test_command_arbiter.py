# SPDX-License-Identifier: Apache-2.0
"""command_arbiter over real DDS: the arbiter runs as a subprocess, this process plays the arm.

The test node publishes joint_states / action_chunk / teleop and listens to the controller topic,
the arbiter's status and shadow topics, and calls its services.
"""
from __future__ import annotations

import inspect
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
from cosmos_policy_ros.control.state_buffer import PlausibilityFilter  # noqa: E402
from cosmos_policy_ros.control.limits import (  # noqa: E402
    LimitArrays,
    apply_limit_overrides,
    check_trajectory,
    parse_joint_limits,
)
from cosmos_policy_ros.presets import load_preset  # noqa: E402
from cosmos_policy_ros.ros.conversions import (  # noqa: E402
    duration_to_seconds,
    seconds_to_duration,
    seconds_to_stamp,
    stamp_to_seconds,
)
from cosmos_policy_ros.ros.qos import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS  # noqa: E402

from ros_helpers import WAIT_S, SpinningNode, end_processes, start_node_process, stop_process, wait_for  # noqa: E402

pytestmark = pytest.mark.ros
PRESET = load_preset("sim_arm")
JOINTS = list(PRESET.joints)
URDF_LIMITS = parse_joint_limits(PRESET.urdf_path.read_text())
HOME = np.array([0.0, 0.3, 0.8, 0.4, 0.0, 0.0, 0.02])
DT = PRESET.dt_s
JOINT_STATE_PERIOD_S = 0.02
PROBE_RETRY_S = 5.0  # a probe sent before the arbiter's reader matched this writer is never delivered
PROBE_REASON = "JointState.position has"  # the arbiter's rejection of the probe (joint_map.JointStateMerger)
# Consecutive consistent readings after which the arbiter accepts a jump (PlausibilityFilter's default)
PLAUSIBILITY_CONFIRMATIONS = inspect.signature(PlausibilityFilter).parameters["confirmations"].default


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
        wait_for(lambda: self.joint_pub.get_subscription_count() > 0, "joint_states matched")
        self.sync_measured_state()

    def sync_measured_state(self) -> None:
        """Return once the arbiter has accepted ``measured``: it is published as many times as the
        plausibility filter needs to accept a jump, then right behind it, on the same writer, a
        malformed state (one position short) the arbiter must reject. One writer's samples arrive
        in order, so the probe's rejection on ~/status shows the states before it were taken. Sent
        again only if no rejection came within ``PROBE_RETRY_S``."""
        probe = JointState(name=JOINTS, position=self.measured.tolist()[:-1])
        deadline = time.monotonic() + WAIT_S
        while True:
            seen, before = len(self.statuses), self.status().rejected_inputs
            for _ in range(PLAUSIBILITY_CONFIRMATIONS):
                self._publish_joint_state()
            self.joint_pub.publish(probe)
            try:
                wait_for(lambda: any(s.rejected_inputs > before and PROBE_REASON in s.reason
                                     for s in self.statuses[seen:]), "the arbiter taking the measured state",
                         min(PROBE_RETRY_S, max(0.0, deadline - time.monotonic())))
                return
            except AssertionError:
                if time.monotonic() > deadline:
                    raise

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
    try:
        end_processes(harness.proc for harness in made)
    finally:
        for harness in made:
            harness.spinner.close()


def _assert_stop(traj: JointTrajectory, at: np.ndarray | None = None) -> None:
    """A controlled stop: within the limits, its last point at rest (zero velocity), at ``at`` if given."""
    _assert_within_limits(traj)
    assert all(len(p.velocities) == len(JOINTS) for p in traj.points)  # cubic on JTC, at rest at the end
    np.testing.assert_array_equal(traj.points[-1].velocities, np.zeros(len(JOINTS)))
    if at is not None:
        np.testing.assert_allclose([p.positions for p in traj.points], np.repeat(at[None], len(traj.points), 0),
                                   atol=1e-9)


def _processed(statuses: list[PolicyStatus], publish) -> None:
    """Publish one input and wait until the arbiter reports it received it (``inputs_received``):
    command topics keep only the last message (COMMAND QoS, depth 1), so a burst may lose some; one
    at a time loses none."""
    before = statuses[-1].inputs_received
    publish()
    wait_for(lambda: statuses[-1].inputs_received > before, "the arbiter receiving the input")


def _ramp(start: np.ndarray, steps: int = PRESET.chunk_length, rate_rad_s: float = 0.2) -> np.ndarray:
    rows = np.repeat(start[None, :], steps, axis=0)
    rows[:, 0] += rate_rad_s * DT * np.arange(steps)  # slow pan
    return rows


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_chunk_becomes_time_anchored_trajectory_and_stop_signals_hold(harness_factory, stop_signal):
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

    # SIGTERM (systemd, launch) stops it like Ctrl-C: HOLD before its publisher goes away
    log = stop_process(arm.proc, stop_signal)
    assert arm.proc.returncode == 0, log
    # This reader acknowledged the HOLD before the arbiter exited (run_node flushes); the callback
    # that appends it may still be to come, so wait for it while this node spins.
    wait_for(lambda: len(arm.commands) == 2, "the HOLD commanded on the way out")
    hold = arm.commands[-1]
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
    # The arm (this process) is at rest where the stop's deceleration ends: until then the arbiter
    # joins a chunk onto the decelerating stop (its seam is the commanded state while the stop runs).
    rest_s = stamp_to_seconds(hold.header.stamp) + duration_to_seconds(hold.points[-2].time_from_start)
    wait_for(lambda: arm.now_s() >= rest_s, "the end of the stop's deceleration")
    arm.measured = np.array(hold.points[-1].positions)  # the arm stopped there
    arm.sync_measured_state()  # for a chunk after the stop's rest point: then the seam is the measured state
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
    for _ in range(10):  # teleop, targets and chunks: none may pass (each one processed, by the arbiter's count)
        _processed(arm.statuses, lambda: arm.teleop_pub.publish(arm.teleop(target[None, :], [0.2])))
        _processed(arm.statuses, lambda: arm.target_pub.publish(JointState(name=JOINTS, position=target.tolist())))
        _processed(arm.statuses, lambda: arm.chunk_pub.publish(arm.chunk(_ramp(HOME), arm.now_s())))
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
    for _ in range(5):
        _processed(arm.statuses, lambda: arm.chunk_pub.publish(arm.chunk(_ramp(HOME), arm.now_s())))
    wait_for(lambda: len(arm.shadow) == 5, "every chunk on the shadow topic")
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


def test_mode_values_match_the_message_constants():
    from cosmos_policy_ros.control.modes import Mode
    for mode in Mode:
        assert getattr(PolicyStatus, f"MODE_{mode.name}") == mode.value
        assert getattr(SetMode.Request, f"MODE_{mode.name}") == mode.value


# -- issue 24: every defect of the issue, sent to the real arbiter with the sim as the arm -----------
ARBITER_LIMITS = LimitArrays.from_limits(
    apply_limit_overrides(URDF_LIMITS, {j: {"acceleration": 10.0} for j in JOINTS}), JOINTS,
).without_rate_limits(PRESET.gripper_joints)  # the node's defaults: limits.acceleration [10.0]
ARM_COLS = [i for i, j in enumerate(JOINTS) if j not in PRESET.gripper_joints]
TRACKING_SLACK_RAD = 0.02  # the sim's PD drives lag the commanded reference by up to ~0.01 rad
# Test motions turn the hand about its own axis: no link can hit the table or a block (contact would
# stop the arm short of its reference, and a collision reads as a velocity spike).
WRIST_3 = JOINTS.index("wrist_3_joint")
UNIT = np.eye(len(JOINTS))[WRIST_3]
MEASURED_VELOCITY_SLACK = 1.2  # the PD drives overshoot a commanded velocity by a little


class SimArmGraph:
    """sim_arm_node (the arm: MuJoCo follows the controller topic) + command_arbiter processes; this
    process sends inputs and records what the graph published and measured."""

    def __init__(self, env: dict) -> None:
        self.procs = {
            "sim": start_node_process("cosmos_policy_ros.sim.sim_arm_node", env, {"task": "reach"}),
            "arbiter": start_node_process("cosmos_policy_ros.ros.command_arbiter", env, {"start_mode": "hold"}),
        }
        self.spinner = SpinningNode("arbiter_sim_harness")
        node = self.node = self.spinner.node
        self.commands: list[tuple[float, JointTrajectory]] = []  # (arrival [s], msg) on the controller topic
        self.states: list[tuple[float, np.ndarray, np.ndarray]] = []  # (stamp, positions, velocities)
        self.statuses: list[PolicyStatus] = []
        node.create_subscription(JointTrajectory, "/arm_controller/joint_trajectory",
                                 lambda m: self.commands.append((self.spinner.now_s(), m)), COMMAND_QOS)
        node.create_subscription(JointState, "/joint_states", self._on_state, SENSOR_QOS)
        node.create_subscription(PolicyStatus, "command_arbiter/status", self.statuses.append, LATCHED_QOS)
        self.chunk_pub = node.create_publisher(ActionChunk, "action_chunk", COMMAND_QOS)
        self.teleop_pub = node.create_publisher(JointTrajectory, "teleop/joint_trajectory", COMMAND_QOS)
        self.fake_state_pub = node.create_publisher(JointState, "/joint_states", SENSOR_QOS)
        self.set_mode_client = node.create_client(SetMode, "command_arbiter/set_mode")
        self.estop_client = node.create_client(Trigger, "command_arbiter/estop")
        self.reset_client = node.create_client(Trigger, "command_arbiter/reset")

    def _on_state(self, msg: JointState) -> None:
        if msg.header.frame_id == "fake":
            return  # this test's own forged readings are not the arm
        order = [list(msg.name).index(j) for j in JOINTS]
        self.states.append((stamp_to_seconds(msg.header.stamp), np.array(msg.position)[order],
                            np.array(msg.velocity)[order]))

    def measured(self) -> np.ndarray:
        return self.states[-1][1].copy()

    def wait_ready(self) -> None:
        """Until the arbiter has a joint state from the sim: a teleop command that holds the arm where
        it is gets through (rejected with "no joint state received yet" before)."""
        wait_for(lambda: self.states and self.statuses and self.set_mode_client.service_is_ready()
                 and self.node.count_subscribers("action_chunk") > 0, "the sim and the arbiter")
        self.set_mode(SetMode.Request.MODE_TELEOP)

        def holds_through() -> bool:
            published = len(self.commands)
            _processed(self.statuses, lambda: self.teleop_pub.publish(JointTrajectory(
                joint_names=JOINTS, points=[JointTrajectoryPoint(positions=self.measured().tolist(),
                                                                 time_from_start=seconds_to_duration(0.5))])))
            wait_for(lambda: len(self.commands) > published or "rejected" in self.statuses[-1].reason,
                     "the probe's outcome")
            return len(self.commands) > published
        wait_for(holds_through, "the arbiter's first joint state from the sim")
        self.set_mode(SetMode.Request.MODE_HOLD)

    def set_mode(self, mode: int) -> None:
        assert self.spinner.call(self.set_mode_client, SetMode.Request(mode=mode, reason="test")).success

    def status_since(self, count: int, words: str) -> bool:
        return any(words in s.reason for s in self.statuses[count:])

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            assert proc.poll() is None, f"{name} died:\n{proc.communicate()[0][-3000:]}"

    def assert_teleop_executed(self, turn_rad: float = 0.1) -> None:
        """A valid teleop command (in TELEOP) turns the sim arm's wrist_3 by ``turn_rad``."""
        target = self.measured() + turn_rad * UNIT
        self.teleop_pub.publish(JointTrajectory(joint_names=JOINTS, points=[JointTrajectoryPoint(
            positions=target.tolist(), time_from_start=seconds_to_duration(1.0))]))
        wait_for(lambda: abs(self.measured()[WRIST_3] - target[WRIST_3]) < 0.01,
                 "the sim arm executing a valid teleop command")
        self.check_alive()

    def close(self) -> None:
        try:
            for proc in self.procs.values():
                stop_process(proc)
        finally:
            self.spinner.close()


@pytest.fixture
def sim_graph(ros_domain):
    made = SimArmGraph(ros_domain.env())
    yield made
    for proc in made.procs.values():
        if proc.poll() is None:
            proc.kill()
    made.close()


def _defect_chunk(q: np.ndarray, stamp_s: float, dt_s: float = DT, times_s=None, names=None,
                  inner_names=None, rows=None) -> ActionChunk:
    """The issue's chunk: rows current, current, current + 0.6 rad on shoulder_pan, with a defect."""
    if rows is None:
        rows = np.repeat(q[None], 3, axis=0)
        rows[2, 0] += 0.6
    msg = ActionChunk(joint_names=JOINTS if names is None else names, dt_s=dt_s, execute_steps=0,
                      model_name="defect")
    msg.header.stamp = seconds_to_stamp(stamp_s)
    msg.trajectory.joint_names = msg.joint_names if inner_names is None else inner_names
    times = [k * DT for k in range(len(rows))] if times_s is None else times_s
    msg.trajectory.points = [JointTrajectoryPoint(positions=[float(x) for x in row],
                                                  time_from_start=seconds_to_duration(t)) for row, t in zip(rows, times)]
    return msg


def _velocity_at(msg: JointTrajectory | None, time_s: float) -> np.ndarray:
    """The commanded velocity of ``msg`` at ``time_s`` (straight segments; zero outside it)."""
    if msg is None:
        return np.zeros(len(JOINTS))
    positions = np.array([p.positions for p in msg.points])
    times = stamp_to_seconds(msg.header.stamp) + np.array([duration_to_seconds(p.time_from_start) for p in msg.points])
    if len(times) < 2 or not times[0] < time_s < times[-1]:
        return np.zeros(len(JOINTS))
    k = int(np.searchsorted(times, time_s, side="right")) - 1
    return (positions[k + 1] - positions[k]) / (times[k + 1] - times[k])


def _assert_graph_within_limits(graph: SimArmGraph) -> None:
    """Every published trajectory: finite, strictly increasing times, within position/velocity/
    acceleration limits between its points; at the seam, reachable from the measured arm within the
    velocity limit; and the arm itself never measured faster than its limits."""
    velocity_limit = ARBITER_LIMITS.velocity
    previous: JointTrajectory | None = None
    for arrival_s, msg in graph.commands:
        assert msg.joint_names == JOINTS
        positions = np.array([p.positions for p in msg.points])
        velocities = np.array([p.velocities for p in msg.points])
        times = np.array([duration_to_seconds(p.time_from_start) for p in msg.points])
        assert np.all(np.isfinite(times)) and np.all(np.diff(times) > 0), times
        start_s = stamp_to_seconds(msg.header.stamp) + times[0]
        # between consecutive commands too: from the previous one's velocity where this one starts
        reason = check_trajectory(positions, times, ARBITER_LIMITS, start_velocity=_velocity_at(previous, start_s))
        assert reason is None, reason
        previous = msg
        np.testing.assert_array_equal(velocities[-1], 0.0)
        absolute = stamp_to_seconds(msg.header.stamp) + times
        # from the measured arm to the first point at least a control period ahead (a finer-spaced
        # stop's first points are within the arm's tracking lag of its reference)
        future = np.flatnonzero(absolute >= arrival_s + DT)
        measured = [q for t, q, _ in graph.states if t <= arrival_s]
        if future.size and measured:
            k = int(future[0])
            needed = (np.abs(positions[k] - measured[-1]) - TRACKING_SLACK_RAD) / (absolute[k] - arrival_s)
            assert np.all(needed[ARM_COLS] <= velocity_limit[ARM_COLS]), (needed, msg)
    speeds = np.array([np.abs(v) for _, _, v in graph.states])
    too_fast = np.any(speeds[:, ARM_COLS] > velocity_limit[ARM_COLS] * MEASURED_VELOCITY_SLACK, axis=1)
    if np.any(too_fast):
        when = graph.states[int(np.argmax(too_fast))][0]
        recent = [(round(t - when, 3), stamp_to_seconds(m.header.stamp) - when,
                   [(duration_to_seconds(p.time_from_start), np.round(p.positions[:2], 3).tolist()) for p in m.points])
                  for t, m in graph.commands if when - 1.0 < t < when + 0.1]
        raise AssertionError(f"the arm was measured at {speeds.max(axis=0)} rad/s; commands around it: {recent}")


def test_every_defect_of_issue_24_is_held_by_the_arbiter_with_the_sim_as_the_arm(sim_graph):
    graph = sim_graph
    graph.wait_ready()
    now = graph.spinner.now_s
    chunk_defects = [  # (label, message from the measured state, words in the status)
        ("dt 2^32 + 0.1", lambda q: _defect_chunk(q, now(), dt_s=2.0 ** 32 + 0.1), "dt_s=4294967296.1"),
        ("dt 1e9", lambda q: _defect_chunk(q, now(), dt_s=1e9), "dt_s=1000000000.0"),
        ("dt 1e-10", lambda q: _defect_chunk(q, now(), dt_s=1e-10), "dt_s=1e-10"),
        ("NaN in an already past step", lambda q: _defect_chunk(
            q, now() - 0.15, rows=np.vstack([np.full((1, len(JOINTS)), math.nan), np.repeat(q[None], 7, 0)])),
         "non-finite"),
        ("name lists disagree", lambda q: _defect_chunk(q, now(), inner_names=JOINTS[::-1]), "disagree"),
        ("time_from_start ignored", lambda q: _defect_chunk(q, now(), times_s=[0.0, 0.5, 1.0]), "disagrees"),
    ]
    for label, make, words in chunk_defects:
        graph.set_mode(SetMode.Request.MODE_POLICY)
        seen = len(graph.statuses)
        graph.chunk_pub.publish(make(graph.measured()))
        wait_for(lambda: graph.status_since(seen, words), f"the rejection of: {label}")
        graph.check_alive()
    # defect 2: a reading 0.2 rad past a bound, then a rejected chunk: the stop must not go there
    q = graph.measured()
    fake = JointState(name=JOINTS, position=(q + np.eye(len(JOINTS))[1] * (2.2 - q[1])).tolist())
    fake.header.stamp, fake.header.frame_id = graph.node.get_clock().now().to_msg(), "fake"
    graph.set_mode(SetMode.Request.MODE_POLICY)
    seen = len(graph.statuses)
    graph.fake_state_pub.publish(fake)
    wait_for(lambda: graph.status_since(seen, "implausible"), "the forged reading reported")
    graph.chunk_pub.publish(_defect_chunk(q, now(), dt_s=math.inf))
    wait_for(lambda: graph.status_since(seen, "chunk rejected"), "the rejection after the forged reading")
    # teleop defects: bad times, NaN, a target beyond the jump limit
    graph.set_mode(SetMode.Request.MODE_TELEOP)
    for times, rows in (([0.5, 0.5 + 1e-10], np.repeat(q[None], 2, 0)), ([1e9], q[None]),
                        ([0.5], np.where(np.arange(len(JOINTS)) == 0, math.nan, q)[None]),
                        ([0.1], (q + 0.6 * np.eye(len(JOINTS))[0])[None])):
        seen = len(graph.statuses)
        msg = JointTrajectory(joint_names=JOINTS, points=[
            JointTrajectoryPoint(positions=[float(x) for x in row], time_from_start=seconds_to_duration(t))
            for row, t in zip(rows, times)])
        graph.teleop_pub.publish(msg)
        wait_for(lambda: graph.status_since(seen, "teleop command rejected"), f"the teleop rejection ({times})")
    graph.check_alive()
    # a HOLD while the hand turns at 1 rad/s is a controlled stop, not a halt (checked below)
    start = graph.measured()
    rows = [start + 0.25 * k * UNIT for k in (1, 2, 3)]
    graph.teleop_pub.publish(JointTrajectory(joint_names=JOINTS, points=[
        JointTrajectoryPoint(positions=row.tolist(), time_from_start=seconds_to_duration(0.25 * (k + 1)))
        for k, row in enumerate(rows)]))
    try:
        wait_for(lambda: graph.measured()[WRIST_3] > start[WRIST_3] + 0.2, "the arm moving")
    except AssertionError as err:
        raise AssertionError(f"{err}; arbiter said: {[s.reason for s in graph.statuses[-3:]]}") from None
    graph.set_mode(SetMode.Request.MODE_HOLD)
    wait_for(lambda: abs(graph.states[-1][2][WRIST_3]) < 1e-3, "the arm at rest after the stop")
    graph.set_mode(SetMode.Request.MODE_TELEOP)
    graph.assert_teleop_executed()  # valid commands are still executed
    assert graph.commands, "nothing was published: the checks below would be empty"
    print(f"sim graph: {len(graph.commands)} commands, {len(graph.states)} measured states, "
          f"largest measured arm speed {np.abs([v for _, _, v in graph.states])[:, ARM_COLS].max():.3f} rad/s")
    _assert_graph_within_limits(graph)


def _malformed_rows(rng: np.random.Generator, case: int, start: np.ndarray) -> tuple[list[str], np.ndarray]:
    """One malformed (or borderline) set of rows from ``start``, moving the hand about its axis:
    wrong lengths, NaN/inf, unknown joints, huge values, noise; every seventh is valid with its
    columns reordered."""
    steps = int(rng.integers(1, 20))
    rows = start[None, :] + 0.2 * DT * np.arange(steps)[:, None] * UNIT[None, :]
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
        rows = rows + rng.normal(0.0, 0.3, size=rows.shape) * UNIT  # noise the hand can follow freely
    else:
        names = names[::-1]  # valid: reordered columns must be mapped by name
        rows = rows[:, ::-1]
    return names, rows


def test_fuzz_into_the_real_graph_with_the_sim_as_the_arm(sim_graph):
    """Issue 21/24: malformed chunks, teleop trajectories and forged joint states into the real graph
    (the sim is the arm). Synchronised on what the arbiter reports it received, never on our loop:
    it never dies, never publishes outside the limits (between points, between commands, from the
    measured arm), the arm is never measured too fast, nothing passes in ESTOP, and valid commands
    are executed afterwards. (Images and CompressedImage go to policy_node only:
    test_policy_inputs.py fuzzes them into it.)"""
    graph = sim_graph
    graph.wait_ready()
    rng = np.random.default_rng(7)
    far = [-1e9, -3600.0, 0.0, 3600.0, 1e8]  # stamps in the far past and future (within int32 seconds)
    reliable_sent = 0  # chunks and teleop trajectories (RELIABLE): the arbiter must count each
    for case in range(420):
        if case % 3 < 2:  # leave HOLD before every chunk and teleop command, so each reaches the checks
            graph.set_mode([SetMode.Request.MODE_POLICY, SetMode.Request.MODE_TELEOP][case % 3])
        names, rows = _malformed_rows(rng, case, graph.measured())
        stamp_s = graph.spinner.now_s() + (far[case % len(far)] if case % 4 == 0 else 0.0)
        channel = case % 3
        if channel == 0:
            msg = _defect_chunk(graph.measured(), max(0.0, stamp_s), rows=rows, names=names,
                                dt_s=float(rng.choice([DT, DT, 0.0, -1.0, math.nan, 2.0 ** 32 + 0.1])))
            _processed(graph.statuses, lambda: graph.chunk_pub.publish(msg))
            reliable_sent += 1
        elif channel == 1:
            times = sorted(rng.uniform(-1.0, 2.0, size=len(rows)).tolist())
            teleop = JointTrajectory(joint_names=names, points=[
                JointTrajectoryPoint(positions=[float(x) for x in row], time_from_start=seconds_to_duration(max(t, 0.0)))
                for row, t in zip(rows, times)])
            _processed(graph.statuses, lambda: graph.teleop_pub.publish(teleop))
            reliable_sent += 1
        else:  # a forged joint state (the sim keeps publishing the real ones)
            js = JointState(name=names, position=[float(x) for x in (rows[0] if len(rows) else [])])
            js.header.stamp, js.header.frame_id = seconds_to_stamp(max(0.0, stamp_s)), "fake"
            graph.fake_state_pub.publish(js)
    assert graph.statuses[-1].inputs_received >= reliable_sent  # every command input reached the graph
    graph.check_alive()
    status = graph.statuses[-1]
    assert status.rejected_chunks > 0 and status.rejected_inputs > 0
    print(f"fuzz: {reliable_sent} reliable inputs sent, {status.inputs_received} received, "
          f"{status.rejected_chunks} chunks and {status.rejected_inputs} other inputs rejected, "
          f"{len(graph.commands)} commands published")
    # ESTOP: nothing passes, counted on the arbiter's side
    assert graph.spinner.call(graph.estop_client, Trigger.Request()).success
    wait_for(lambda: graph.statuses[-1].mode == PolicyStatus.MODE_ESTOP, "ESTOP")
    wait_for(lambda: graph.commands and duration_to_seconds(graph.commands[-1][1].points[0].time_from_start) == 0.0,
             "the ESTOP stop")
    published = len(graph.commands)
    q = graph.measured()
    nudge = JointTrajectory(joint_names=JOINTS, points=[JointTrajectoryPoint(
        positions=(q + 0.05 * UNIT).tolist(), time_from_start=seconds_to_duration(0.5))])
    for _ in range(10):
        _processed(graph.statuses, lambda: graph.chunk_pub.publish(_defect_chunk(q, graph.spinner.now_s(), rows=_ramp(q))))
        _processed(graph.statuses, lambda: graph.teleop_pub.publish(nudge))
    assert len(graph.commands) == published, "a command passed while ESTOP was latched"
    assert graph.spinner.call(graph.reset_client, Trigger.Request()).success
    graph.set_mode(SetMode.Request.MODE_TELEOP)
    graph.assert_teleop_executed()
    accepted = [m for _, m in graph.commands if duration_to_seconds(m.points[0].time_from_start) > 0.0]
    assert len(accepted) > 1  # borderline-valid inputs did pass, so the checks below saw real output
    _assert_graph_within_limits(graph)
