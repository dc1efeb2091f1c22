# SPDX-License-Identifier: Apache-2.0
"""The deployment graph over real DDS: sim_arm + policy_node + command_arbiter (+ expert teleop).

Every node runs as its own process on a leased ROS domain; this process only listens (controller
topic, statuses, diagnostics, chunks, joint states, teleop) and calls services. The policy is the
random-weight tiny model (``allow_random_init``): its chunks are small noise around the sim's
home pose, which is enough to exercise timing, stitching, limits, hand-off and faults.

Timing: the closed-loop test asserts that every inference was shorter than the execution horizon
and then that every chunk arrived before the previous one's horizon ended (gaps measured against
the execution horizon, not the chunk's end), so no starvation hold, and that the watchdog never
fired before horizon + margin. Transitions during which the sim itself was starved of CPU (its
joint-state stamps jump > SIM_STALL_S; its cameras render in the same loop) are reported, not judged;
at least half must be judged. The preset is changed, and why: on this shared 2-core machine
inference spikes to 0.5-0.95 s, longer than the shipped 0.8 s horizon, so the test runs a copy with
a 1.4 s horizon (``TIMING_HORIZON_STEPS``) and the policy starting back to back; nothing else
changes. The hand-off test runs a copy with a 1.0 s horizon (``LONG_HORIZON_STEPS``): it judges
seams, not timing, and the longer horizon keeps a load spike from becoming a starvation hold.
Limits: the timing tests keep the random policy's noise tiny (seams must pass the acceleration
check); a separate test makes the policy propose motions beyond the URDF limits and checks that
they are rejected and nothing outside the limits reaches the controller.

Hand-off: the scripted expert (expert_teleop_node) drives the arm through the arbiter in TELEOP;
SetMode POLICY while the arm moves, then TELEOP again. Judged on the measured joint states (no
joint moves more than one control step at its velocity limit within one control step), on the
controller commands (each starts where the arm is), and on the first teleop command after the
switch back reaching the controller (teleop passes in the very next period).
"""
from __future__ import annotations

import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("rclpy", reason="closed-loop tests need rclpy")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from cosmos_policy_msgs.msg import ActionChunk, PolicyStatus  # noqa: E402
from cosmos_policy_msgs.srv import SetMode  # noqa: E402
from cosmos_policy_ros.control.limits import LimitArrays, check_trajectory, parse_joint_limits  # noqa: E402
from cosmos_policy_ros.presets import ROBOTS_DIR, load_preset  # noqa: E402
from cosmos_policy_ros.ros.conversions import duration_to_seconds, stamp_to_seconds  # noqa: E402
from cosmos_policy_ros.ros.qos import COMMAND_QOS, LATCHED_QOS  # noqa: E402
from cosmos_policy_ros.sim.arm_sim import HOME_POSITIONS  # noqa: E402

from ros_helpers import SpinningNode, start_node_process, stop_process, wait_for  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.sim, pytest.mark.slow]
PRESET = load_preset("sim_arm")
JOINTS = list(PRESET.joints)
URDF_LIMITS = parse_joint_limits(PRESET.urdf_path.read_text())
LIMITS = LimitArrays.from_limits(URDF_LIMITS, JOINTS).without_rate_limits(PRESET.gripper_joints)
GRIPPER_CENTER_M = 0.025  # inside the gripper's [0, 0.04] range, so random noise stays within limits
ACTION_CENTER = [*HOME_POSITIONS[:-1].tolist(), GRIPPER_CENTER_M]
LONG_HORIZON_STEPS = 10  # of 16: 1.0 s at 10 Hz, room for load spikes; 0.5 s look-ahead covers the hold
# The timing test: 1.4 s of 1.6 s, and the policy starts each inference as soon as the previous
# chunk is out (margin = horizon). Measured here with five other suites on two cores: inference
# p50 219 ms, max 525 ms, and 949 ms once; the shipped 0.8 s horizon is shorter than that worst case.
TIMING_HORIZON_STEPS = 14
TIMING_MARGIN_S = 0.3  # the policy aims to deliver this long before the horizon ends
WATCHDOG_MARGIN_S = 0.1  # command_arbiter's default watchdog.margin_s
START_TIMEOUT_S = 90.0  # torch/diffusers import + model build + warm-up on a shared CPU
RUN_CHUNKS = 20  # closed-loop transitions judged
# A jump of the sim's 100 Hz joint-state stamps this long = it was starved of CPU: a starved sim catches
# up without publishing states more than its max_lag_s (0.25 s) behind, so this gap = a stall of 0.35 s.
SIM_STALL_S = 0.1
# Random chunks are independent noise: successive ones disagree at the seam, which the arbiter's
# acceleration check (10 rad/s^2 over a >= 50 ms seam segment) rightly rejects at the node's
# default noise level; the timing tests keep the noise small (a trained policy is smooth).
ACTION_HALF_RANGE = 0.001
# ... and the limits test makes them wild: steps of up to ~0.5 rad per 0.1 s exceed every arm
# joint's URDF velocity limit (2-3 rad/s), so some chunk must be rejected.
WILD_ACTION_HALF_RANGE = 0.5
# Hand-off: a slow expert, and POLICY as soon as the arm moves, so the random policy (centred on the
# home pose) starts near the arm: its chunks are then accepted and the hand-off is exercised for real.
HANDOFF_EXPERT = {"speed_mps": 0.02, "yaw_rate_rad_s": 0.1}
# ... and the seam segment (measured state -> first kept chunk step) at least this long, so that the
# arm's remaining teleop motion can be reversed within the acceleration limit (a trained policy
# continues the motion instead; the random one pulls back to its centre).
HANDOFF_LATENCY_MARGIN_S = 0.15
MOTION_THRESHOLD_RAD = 0.003
JUMP_TOLERANCE_RAD = 1e-4
VELOCITY_LIMITS = np.array([URDF_LIMITS[j].velocity for j in JOINTS])
ARM = [i for i, j in enumerate(JOINTS) if j not in PRESET.gripper_joints]


@dataclass
class Received:
    """A trajectory on the controller topic with its arrival time on this process's ROS clock."""

    msg: JointTrajectory
    arrival_s: float

    @property
    def start_s(self) -> float:
        return stamp_to_seconds(self.msg.header.stamp)

    @property
    def end_s(self) -> float:
        return self.start_s + duration_to_seconds(self.msg.points[-1].time_from_start)

    @property
    def is_hold(self) -> bool:
        """A stop (HOLD, ESTOP, starvation): the arbiter stamps it now, its first point at 0 s (a
        chunk's first point is at now - t_obs > 0; teleop's at now - its stamp)."""
        return duration_to_seconds(self.msg.points[0].time_from_start) == 0.0

    @property
    def first_positions(self) -> np.ndarray:
        return np.array(self.msg.points[0].positions)


@dataclass
class Graph:
    """The node processes plus a listener node in this process."""

    env: dict
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    commands: list[Received] = field(default_factory=list)
    chunks: list[ActionChunk] = field(default_factory=list)
    arbiter_status: list[PolicyStatus] = field(default_factory=list)
    policy_status: list[PolicyStatus] = field(default_factory=list)
    diagnostics: list[DiagnosticArray] = field(default_factory=list)
    joint_states: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (stamp [s], (D,))
    teleop: list[Received] = field(default_factory=list)

    def start_listener(self) -> None:
        self.spinner = SpinningNode("closed_loop_listener")
        node = self.spinner.node
        node.create_subscription(JointTrajectory, "/arm_controller/joint_trajectory",
                                 lambda m: self.commands.append(Received(m, self.now_s())), COMMAND_QOS)
        node.create_subscription(ActionChunk, "/policy_node/action_chunk", self.chunks.append, COMMAND_QOS)
        node.create_subscription(PolicyStatus, "/command_arbiter/status", self.arbiter_status.append, LATCHED_QOS)
        node.create_subscription(PolicyStatus, "/policy_node/status", self.policy_status.append, LATCHED_QOS)
        node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        # Reliable and deep (the sim offers reliable): a gap in the stamps is the sim's, not a sample
        # this loaded listener dropped (what sim_stalled judges).
        node.create_subscription(JointState, "/joint_states", self._on_joint_state,
                                 QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE))
        node.create_subscription(JointTrajectory, "/teleop/joint_trajectory",
                                 lambda m: self.teleop.append(Received(m, self.now_s())), COMMAND_QOS)
        self.set_mode_client = node.create_client(SetMode, "/command_arbiter/set_mode")

    def now_s(self) -> float:
        return self.spinner.now_s()

    def _on_joint_state(self, msg: JointState) -> None:
        order = [list(msg.name).index(j) for j in JOINTS]
        self.joint_states.append((stamp_to_seconds(msg.header.stamp), np.array(msg.position)[order]))

    def sim_stalled(self, from_s: float, to_s: float) -> bool:
        """Did the sim (its loop also renders the cameras) leave a stamp gap > SIM_STALL_S in [from_s, to_s]?

        Judged on the joint states' stamps, so a stall of this listener never counts as one.
        """
        stamps = [t for t, _ in self.joint_states if from_s <= t <= to_s]
        return len(stamps) < 2 or max(np.diff(stamps)) > SIM_STALL_S

    def launch(self, name: str, module: str, params: dict[str, object], remaps: dict[str, str] | None = None) -> None:
        self.procs[name] = start_node_process(module, self.env, params, remaps)

    def launch_sim(self, robot: str) -> None:
        self.launch("sim", "cosmos_policy_ros.sim.sim_arm_node", {"task": "reach", "robot": robot})

    def launch_policy(self, robot: str, margin_s: float = TIMING_MARGIN_S,
                      action_half_range: float = ACTION_HALF_RANGE) -> None:
        self.launch("policy", "cosmos_policy_ros.ros.policy_node", {
            "robot": robot, "allow_random_init": "true", "autostart": "true", "instruction": "'reach the block'",
            "random_init.action_center": str(ACTION_CENTER), "random_init.action_half_range": action_half_range,
            "timing.margin_s": margin_s})

    def launch_arbiter(self, robot: str, start_mode: str, **params: object) -> None:
        self.launch("arbiter", "cosmos_policy_ros.ros.command_arbiter",
                    {"robot": robot, "start_mode": start_mode, **params}, {"action_chunk": "/policy_node/action_chunk"})

    def launch_expert(self, robot: str) -> None:
        self.launch("expert", "cosmos_policy_ros.sim.expert_teleop_node",
                    {"robot": robot, "task": "reach", **HANDOFF_EXPERT})

    def set_mode(self, mode: int, reason: str = "test") -> SetMode.Response:
        return self.spinner.call(self.set_mode_client, SetMode.Request(mode=mode, reason=reason))

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{proc.communicate()[0][-3000:]}")

    def policy_commands(self) -> list[Received]:
        return [c for c in self.commands if not c.is_hold]

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        try:
            for proc in self.procs.values():
                stop_process(proc)  # kills (and raises) what does not stop
        finally:
            for proc in self.procs.values():
                if proc.poll() is None:  # left over after another one's stop failed
                    proc.kill()
                    proc.communicate()
            self.spinner.close()


@pytest.fixture
def graph(ros_domain):
    made = Graph(ros_domain.env())
    made.start_listener()
    yield made
    made.close()


def _preset_with_horizon(folder: Path, execute_steps: int) -> str:
    """sim_arm with another execution horizon (same joints, cameras, chunk length, URDF)."""
    data = yaml.safe_load((ROBOTS_DIR / "sim_arm.yaml").read_text())
    data.update(execute_steps=execute_steps, urdf=str(PRESET.urdf_path))
    path = folder / "sim_arm.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture
def long_horizon_preset(tmp_path: Path) -> str:
    return _preset_with_horizon(tmp_path, LONG_HORIZON_STEPS)


def _assert_within_limits(commands: list[Received]) -> None:
    for received in commands:
        msg = received.msg
        assert msg.joint_names == JOINTS
        positions = np.array([p.positions for p in msg.points])  # (n, D)
        times = np.array([duration_to_seconds(p.time_from_start) for p in msg.points])
        reason = check_trajectory(positions, times, LIMITS)
        assert reason is None, f"command outside URDF limits: {reason}"


def _engage_policy(graph: Graph) -> None:
    """As an operator does: once the policy node produces chunks, switch the arbiter to POLICY."""
    wait_for(lambda: len(graph.chunks) >= 2, "chunks from policy_node", START_TIMEOUT_S)
    assert graph.set_mode(SetMode.Request.MODE_POLICY).success
    wait_for(lambda: len(graph.policy_commands()) >= 2, "policy trajectories on the controller topic")


def _starvation_report(graph: Graph, window: list[Received], horizon_s: float) -> tuple[list[float], list[float],
                                                                                     list[float]]:
    """Judge each policy trajectory against the next command in ``window``.

    Returns:
        gaps: for each policy trajectory, when the next command arrived relative to the end of the
            trajectory's *execution horizon* (start + execute_steps * dt) [s]; > 0 means the arm
            had entered the look-ahead (or the hold) before anything new came: a late chunk.
            Only transitions during which the sim kept running (no pause > SIM_STALL_S).
        stalled_gaps: the same for transitions during which the sim itself was starved of CPU: no
            policy can be on time without images, so these are reported, not judged.
        early_holds: for each watchdog hold, how long *before* the previous chunk's horizon + margin
            it came (> 0 means the watchdog fired although the policy still had time: a bug).
    """
    gaps, stalled_gaps, early_holds = [], [], []
    for prev, nxt in zip(window, window[1:]):
        if prev.is_hold:
            continue
        horizon_end_s = prev.start_s + horizon_s  # a policy trajectory is stamped with its observation
        judged = stalled_gaps if graph.sim_stalled(prev.start_s, nxt.arrival_s) else gaps
        judged.append(nxt.arrival_s - horizon_end_s)
        if nxt.is_hold:
            early_holds.append(horizon_end_s + WATCHDOG_MARGIN_S - nxt.start_s)
    return gaps, stalled_gaps, early_holds


def test_closed_loop_within_limits_never_starved_with_diagnostics(graph, tmp_path):
    """While every inference is shorter than the execution horizon, each chunk arrives before the
    previous one's horizon ends: no late chunk, so no starvation hold (except where the sim itself
    stalled, see _starvation_report)."""
    horizon_s = TIMING_HORIZON_STEPS * PRESET.dt_s
    preset = _preset_with_horizon(tmp_path, TIMING_HORIZON_STEPS)
    graph.launch_sim(preset)
    graph.launch_arbiter(preset, "hold")
    graph.launch_policy(preset, margin_s=horizon_s)
    _engage_policy(graph)
    graph.check_alive()
    first = len(graph.commands) - 1
    first_chunk = graph.chunks[-1].sequence
    # run until RUN_CHUNKS transitions could be judged (the sim kept running through them)
    wait_for(lambda: len(_starvation_report(graph, graph.commands[first:], horizon_s)[0]) >= RUN_CHUNKS,
             f"{RUN_CHUNKS} judged transitions in closed loop", RUN_CHUNKS * horizon_s * 8)
    graph.check_alive()
    window = graph.commands[first:]
    chunks = [c for c in graph.chunks if c.sequence >= first_chunk]

    _assert_within_limits(graph.commands)
    gaps, stalled_gaps, early_holds = _starvation_report(graph, window, horizon_s)
    holds = sum(c.is_hold for c in window)
    latency_s = np.array([c.inference_time_ms / 1e3 for c in chunks])
    print(f"{len(window)} trajectories, {holds} starvation holds, latest arrival vs horizon {max(gaps):+.3f} s "
          f"({len(stalled_gaps)} transitions during sim stalls: {np.round(stalled_gaps, 3).tolist()}), "
          f"inference ms p50 {1e3 * np.median(latency_s):.0f} max {1e3 * latency_s.max():.0f}, "
          f"horizon {horizon_s:.1f} s")
    status = graph.arbiter_status[-1]
    assert status.rejected_chunks == 0 and status.mode == PolicyStatus.MODE_POLICY, status.reason
    assert latency_s.max() < horizon_s, "inference took longer than the horizon: starvation is allowed then"
    assert all(early <= 0.0 for early in early_holds), f"watchdog fired early by {max(early_holds):.3f} s"
    # a late chunk, and every starvation hold outside a sim stall (a hold comes after horizon + margin)
    assert max(gaps) <= 0.0, f"a chunk came {max(gaps):.3f} s after the previous horizon ended; gaps {gaps}"
    policy = [s for s in graph.diagnostics if s.status and s.status[0].name.startswith("policy_node")]
    keys = {kv.key: float(kv.value) for kv in policy[-1].status[0].values}
    assert {"inference_ms", "model_ms", "observation_age_s", "deadline_misses"} <= set(keys)
    assert 0 < keys["model_ms"] <= keys["inference_ms"] and keys["observation_age_s"] >= 0.0
    assert all(0 < c.model_time_ms <= c.inference_time_ms for c in chunks)
    assert "RANDOM WEIGHTS" in graph.policy_status[-1].reason  # said loudly
    sequences = [c.sequence for c in chunks]
    assert sequences == sorted(sequences) and all(c.execute_steps == TIMING_HORIZON_STEPS for c in chunks)


def test_out_of_limit_chunks_are_rejected_and_never_reach_the_controller(graph):
    """The limits check with teeth: the policy proposes motions beyond the URDF velocity limits
    (large random actions); the arbiter must reject them and the controller only sees holds."""
    graph.launch_sim("sim_arm")
    graph.launch_arbiter("sim_arm", "hold")
    graph.launch_policy("sim_arm", action_half_range=WILD_ACTION_HALF_RANGE)
    wait_for(lambda: len(graph.chunks) >= 2, "chunks from policy_node", START_TIMEOUT_S)
    assert graph.set_mode(SetMode.Request.MODE_POLICY).success
    wait_for(lambda: graph.arbiter_status and graph.arbiter_status[-1].rejected_chunks >= 1, "a rejected chunk")
    graph.check_alive()
    violations = [check_trajectory(np.array([p.positions for p in c.trajectory.points]),
                                   np.array([duration_to_seconds(p.time_from_start) for p in c.trajectory.points]),
                                   LIMITS) for c in graph.chunks]
    assert any(violations), "the policy's chunks were all within limits: nothing was tested"
    status = graph.arbiter_status[-1]
    assert status.mode == PolicyStatus.MODE_HOLD and "rejected" in status.reason, status.reason
    assert graph.commands and all(c.is_hold for c in graph.commands)
    _assert_within_limits(graph.commands)


def test_kill_9_policy_node_arbiter_holds_before_the_chunk_runs_out(graph):
    graph.launch_sim("sim_arm")
    graph.launch_arbiter("sim_arm", "hold")
    graph.launch_policy("sim_arm", margin_s=0.3)
    _engage_policy(graph)
    count = len(graph.policy_commands())
    wait_for(lambda: len(graph.policy_commands()) > count, "a fresh policy trajectory")
    graph.procs["policy"].send_signal(signal.SIGKILL)  # right after a chunk: the watchdog is armed
    graph.procs["policy"].wait()
    # the hold after the last policy trajectory (one may still have been in flight at the kill; under
    # load the watchdog may even have fired before the kill, after a late chunk)
    def held_after_the_last_trajectory() -> bool:
        return graph.commands[-1].is_hold and graph.commands[-1].arrival_s > graph.policy_commands()[-1].arrival_s
    wait_for(held_after_the_last_trajectory, "the arbiter's hold after the last policy trajectory")
    last = graph.policy_commands()[-1]
    hold = next(c for c in graph.commands if c.is_hold and c.arrival_s > last.arrival_s)
    horizon_end_s = last.start_s + PRESET.execute_steps * PRESET.dt_s
    print(f"hold {hold.start_s - horizon_end_s:.3f} s after the horizon, "
          f"{last.end_s - hold.start_s:.3f} s before the chunk's end")
    assert horizon_end_s + WATCHDOG_MARGIN_S < hold.start_s < last.end_s  # not the look-ahead
    wait_for(lambda: "starved" in graph.arbiter_status[-1].reason, "the starved status")
    assert graph.arbiter_status[-1].mode == PolicyStatus.MODE_POLICY  # a new policy would resume
    held = hold.first_positions
    assert np.all(held >= LIMITS.lower - 1e-6) and np.all(held <= LIMITS.upper + 1e-6)
    _assert_within_limits(graph.commands)


def _max_step_motion(states: list[tuple[float, np.ndarray]], since_s: float, dt_s: float) -> np.ndarray:
    """(D,) the largest distance each joint moved within any one control step (joint_states stamps)."""
    times = np.array([t for t, _ in states if t >= since_s])
    positions = np.array([q for t, q in states if t >= since_s])  # (n, D)
    worst = np.zeros(positions.shape[1])
    for i, start_s in enumerate(times):
        within = positions[i:np.searchsorted(times, start_s + dt_s, side="right")]  # samples <= dt later
        worst = np.maximum(worst, np.abs(within - positions[i]).max(axis=0))
    return worst


def _seam_offsets(graph: Graph, since_s: float) -> np.ndarray:
    """(D,) the largest distance between a command's first point and the arm's last measured state."""
    worst = np.zeros(len(JOINTS))
    for command in (c for c in graph.commands if c.arrival_s >= since_s):
        measured = [q for t, q in graph.joint_states if t <= command.arrival_s][-1]
        worst = np.maximum(worst, np.abs(command.first_positions - measured))
    return worst


def test_handoff_teleop_to_policy_mid_motion_and_back_without_a_jump(graph, long_horizon_preset):
    graph.launch_sim(long_horizon_preset)
    graph.launch_arbiter(long_horizon_preset, "teleop", **{"stitching.latency_margin_s": HANDOFF_LATENCY_MARGIN_S})
    graph.launch_policy(long_horizon_preset)
    wait_for(lambda: len(graph.chunks) >= 2 and graph.joint_states, "chunks from policy_node", START_TIMEOUT_S)
    rest = graph.joint_states[-1][1]
    graph.launch_expert(long_horizon_preset)  # the policy is ready: the expert starts the motion now
    wait_for(lambda: np.abs(graph.joint_states[-1][1][:-1] - rest[:-1]).max() > MOTION_THRESHOLD_RAD,
             "the expert moving the arm", START_TIMEOUT_S)
    moving_s = graph.now_s()
    assert graph.set_mode(SetMode.Request.MODE_POLICY, "hand-off mid-motion").success
    policy_s = graph.now_s()

    def policy_trajectories() -> list[Received]:
        return [c for c in graph.commands if c.arrival_s > policy_s and len(c.msg.points) > 2]
    wait_for(lambda: len(policy_trajectories()) >= 2, "the policy driving the arm")
    assert graph.set_mode(SetMode.Request.MODE_TELEOP, "operator takes over").success
    teleop_s = graph.now_s()
    wait_for(lambda: any(t.arrival_s > teleop_s for t in graph.teleop), "a teleop command after the switch")
    first = next(t for t in graph.teleop if t.arrival_s > teleop_s)  # the next period's command
    target = np.array(first.msg.points[-1].positions)
    wait_for(lambda: any(c.arrival_s > teleop_s and len(c.msg.points) == 2 and not c.is_hold
                         and np.allclose(c.msg.points[-1].positions, target) for c in graph.commands),
             "the first teleop command after the switch on the controller topic")
    # a joint state measured after the teleop command landed ("fresher than one dt" raced under load)
    landed_s = graph.now_s()
    wait_for(lambda: graph.joint_states[-1][0] > landed_s, "joint states after the switch")
    graph.check_alive()

    status = graph.arbiter_status[-1]
    assert status.mode == PolicyStatus.MODE_TELEOP and status.rejected_chunks == 0, status.reason
    assert not any("rejected" in s.reason for s in graph.arbiter_status), [s.reason for s in graph.arbiter_status]
    allowed = VELOCITY_LIMITS * PRESET.dt_s + JUMP_TOLERANCE_RAD  # one control step at the velocity limit
    moved = _max_step_motion(graph.joint_states, moving_s - 1.0, PRESET.dt_s)
    seams = _seam_offsets(graph, moving_s - 1.0)
    print(f"largest motion in one control step / allowed: {np.round(moved / allowed, 3)}; "
          f"command seam - measured / allowed: {np.round(seams / allowed, 3)}")
    # Arm joints: gripper rates are not limited by design (limits.check_gripper_rates: the gripper
    # controller saturates its own speed; the sim's force-capped fingers may trail a teleop seam, the
    # commanded state, or close slightly faster than the URDF velocity on a policy step).
    assert np.all(moved[ARM] <= allowed[ARM]), dict(zip(JOINTS, moved))
    assert np.all(seams[ARM] <= allowed[ARM]), dict(zip(JOINTS, seams))
    _assert_within_limits(graph.commands)
