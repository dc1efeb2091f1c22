# SPDX-License-Identifier: Apache-2.0
"""The deployment graph over real DDS: sim_arm + policy_node + command_arbiter (+ expert_teleop).

Every node runs as its own process on a leased ROS domain; this process only listens (controller
topic, statuses, diagnostics, chunks) and calls services. The policy is the random-weight tiny
model (``allow_random_init``): its chunks are small noise around the sim's home pose, which is
enough to exercise timing, stitching, limits, hand-off and faults.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="closed-loop tests need rclpy")

import rclpy  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from cosmos_policy_msgs.msg import ActionChunk, PolicyStatus  # noqa: E402
from cosmos_policy_msgs.srv import SetMode  # noqa: E402
from cosmos_policy_ros.control.limits import LimitArrays, check_trajectory, parse_joint_limits  # noqa: E402
from cosmos_policy_ros.presets import load_preset  # noqa: E402
from cosmos_policy_ros.ros.qos import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS  # noqa: E402
from cosmos_policy_ros.sim.arm_sim import HOME_POSITIONS  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.sim, pytest.mark.slow]
PRESET = load_preset("sim_arm")
JOINTS = list(PRESET.joints)
LIMITS = LimitArrays.from_limits(parse_joint_limits(PRESET.urdf_path.read_text()), JOINTS).without_rate_limits(
    PRESET.gripper_joints)
HORIZON_S = PRESET.execute_steps * PRESET.dt_s
GRIPPER_CENTER_M = 0.025  # inside the gripper's [0, 0.04] range, so random noise stays within limits
ACTION_CENTER = [*HOME_POSITIONS[:-1].tolist(), GRIPPER_CENTER_M]
START_TIMEOUT_S = 60.0  # torch/diffusers import + model build + warm-up on a shared CPU
NS = 1_000_000_000


def _wait(predicate: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _stamp_s(stamp) -> float:
    return stamp.sec + stamp.nanosec / NS


def _ros_args(params: dict[str, str], remaps: dict[str, str] | None = None) -> list[str]:
    args = ["--ros-args"]
    for key, value in params.items():
        args += ["-p", f"{key}:={value}"]
    for key, value in (remaps or {}).items():
        args += ["-r", f"{key}:={value}"]
    return args


@dataclass
class Received:
    """A trajectory on the controller topic with its arrival time on this process's ROS clock."""

    msg: JointTrajectory
    arrival_s: float

    @property
    def start_s(self) -> float:
        return _stamp_s(self.msg.header.stamp)

    @property
    def end_s(self) -> float:
        last = self.msg.points[-1].time_from_start
        return self.start_s + _stamp_s(last)

    @property
    def is_hold(self) -> bool:
        return len(self.msg.points) == 1


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
    joint_states: list[JointState] = field(default_factory=list)

    def start_listener(self) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        node = self.node = Node("closed_loop_listener", context=self.context)
        node.create_subscription(JointTrajectory, "/arm_controller/joint_trajectory",
                                 lambda m: self.commands.append(Received(m, self.now_s())), COMMAND_QOS)
        node.create_subscription(ActionChunk, "/policy_node/action_chunk", self.chunks.append, COMMAND_QOS)
        node.create_subscription(PolicyStatus, "/command_arbiter/status", self.arbiter_status.append, LATCHED_QOS)
        node.create_subscription(PolicyStatus, "/policy_node/status", self.policy_status.append, LATCHED_QOS)
        node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        node.create_subscription(JointState, "joint_states", self._keep_joint_state, SENSOR_QOS)
        self.set_mode_client = node.create_client(SetMode, "/command_arbiter/set_mode")
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _keep_joint_state(self, msg: JointState) -> None:
        self.joint_states.append(msg)
        del self.joint_states[:-500]

    def now_s(self) -> float:
        return self.node.get_clock().now().nanoseconds / NS

    def launch(self, name: str, module: str, params: dict[str, str], remaps: dict[str, str] | None = None) -> None:
        self.procs[name] = subprocess.Popen([sys.executable, "-m", module, *_ros_args(params, remaps)],
                                            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                            text=True)

    def launch_sim(self) -> None:
        self.launch("sim", "cosmos_policy_ros.sim.sim_arm_node", {"task": "reach"})

    def launch_policy(self) -> None:
        self.launch("policy", "cosmos_policy_ros.ros.policy_node", {
            "allow_random_init": "true", "autostart": "true", "instruction": "'reach the block'",
            "random_init.action_center": str(ACTION_CENTER), "timing.margin_s": "0.3"})

    def launch_arbiter(self, start_mode: str) -> None:
        self.launch("arbiter", "cosmos_policy_ros.ros.command_arbiter", {"start_mode": start_mode},
                    {"action_chunk": "/policy_node/action_chunk"})

    def set_mode(self, mode: int, reason: str = "test") -> SetMode.Response:
        _wait(self.set_mode_client.service_is_ready, "the set_mode service")
        future = self.set_mode_client.call_async(SetMode.Request(mode=mode, reason=reason))
        _wait(future.done, "the set_mode response")
        return future.result()

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{proc.communicate()[0][-3000:]}")

    def close(self) -> dict[str, str]:
        logs = {}
        for name, proc in self.procs.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for name, proc in self.procs.items():
            try:
                logs[name] = proc.communicate(timeout=20)[0]
            except subprocess.TimeoutExpired:
                proc.kill()
                logs[name] = proc.communicate()[0]
        if hasattr(self, "executor"):
            self.executor.shutdown()
            self.thread.join()
            self.node.destroy_node()
            rclpy.try_shutdown(context=self.context)
        return logs


@pytest.fixture
def graph(ros_domain):
    made = Graph(ros_domain.env())
    made.start_listener()
    yield made
    made.close()


def _assert_within_limits(commands: list[Received]) -> None:
    for received in commands:
        msg = received.msg
        assert msg.joint_names == JOINTS
        positions = np.array([p.positions for p in msg.points])  # (n, D)
        times = np.array([_stamp_s(p.time_from_start) for p in msg.points])
        reason = check_trajectory(positions, times, LIMITS)
        assert reason is None, f"command outside URDF limits: {reason}"


def _coverage_gaps_s(commands: list[Received]) -> list[float]:
    """How long the controller ran out of trajectory before each next one arrived (0 = covered)."""
    return [max(0.0, nxt.arrival_s - prev.end_s) for prev, nxt in zip(commands, commands[1:])]


def _policy_running(graph: Graph) -> Callable[[], bool]:
    return lambda: len([c for c in graph.commands if not c.is_hold]) >= 2


def _engage_policy(graph: Graph) -> None:
    """As an operator does: once the policy node produces chunks, switch the arbiter to POLICY."""
    _wait(lambda: len(graph.chunks) >= 2, "chunks from policy_node", START_TIMEOUT_S)
    assert graph.set_mode(SetMode.Request.MODE_POLICY).success
    _wait(_policy_running(graph), "policy trajectories on the controller topic")


def test_closed_loop_20s_within_limits_never_starved_with_diagnostics(graph):
    graph.launch_sim()
    graph.launch_arbiter("hold")
    graph.launch_policy()
    _engage_policy(graph)
    graph.check_alive()
    first = len(graph.commands) - 1
    time.sleep(20.0)
    graph.check_alive()
    window = graph.commands[first:]
    chunks = [c for c in graph.chunks if c.sequence >= graph.chunks[0].sequence]

    _assert_within_limits(graph.commands)
    # Starvation: the controller reached the end of its trajectory before the next one arrived,
    # although that next one was on time (observation to controller < execution horizon). After a
    # watchdog HOLD (a late chunk on this loaded machine) the arm is commanded to stand still.
    gaps = _coverage_gaps_s(window)
    # A watchdog HOLD stands for the chunk that was due: judge the policy trajectory after it.
    policy_after = [next((c for c in window[i:] if not c.is_hold), window[i]) for i in range(1, len(window))]
    on_time = [(due.arrival_s - due.start_s) < HORIZON_S and not prev.is_hold
               for prev, due in zip(window, policy_after)]
    starved = [gap for gap, ok in zip(gaps, on_time) if ok and gap > 0.0]
    print(f"{len(window)} trajectories, {sum(on_time)} on time, max gap {max(gaps):.3f} s, "
          f"inference ms max {max(c.inference_time_ms for c in chunks):.0f}, "
          f"{sum(c.is_hold for c in window)} watchdog holds")
    assert sum(on_time) >= 10 and not starved, f"controller starved: {starved}"
    status = graph.arbiter_status[-1]
    assert status.rejected_chunks == 0, status.reason
    policy = [s for s in graph.diagnostics if s.status and s.status[0].name.startswith("policy_node")]
    keys = {kv.key: float(kv.value) for kv in policy[-1].status[0].values}
    assert {"inference_ms", "model_ms", "observation_age_s", "deadline_misses"} <= set(keys)
    assert 0 < keys["model_ms"] <= keys["inference_ms"] and keys["observation_age_s"] >= 0.0
    assert "RANDOM WEIGHTS" in graph.policy_status[-1].reason  # said loudly
    sequences = [c.sequence for c in chunks]
    assert sequences == sorted(sequences) and all(c.num_candidates == 1 for c in chunks)


def test_kill_9_policy_node_arbiter_holds_before_the_chunk_runs_out(graph):
    graph.launch_sim()
    graph.launch_arbiter("hold")
    graph.launch_policy()
    _engage_policy(graph)
    graph.procs["policy"].send_signal(signal.SIGKILL)
    graph.procs["policy"].wait()
    killed_s = graph.now_s()
    last = [c for c in graph.commands if not c.is_hold][-1]
    _wait(lambda: graph.commands[-1].is_hold, "the arbiter's HOLD", 10.0)
    hold = graph.commands[-1]
    assert hold.start_s > killed_s
    # The arbiter's watchdog fires at the end of the last trajectory plus its margin (0.1 s default).
    assert hold.arrival_s <= last.end_s + 0.1 + 0.1, (hold.arrival_s - last.end_s)
    assert graph.arbiter_status[-1].mode == PolicyStatus.MODE_HOLD
    assert "watchdog" in graph.arbiter_status[-1].reason
    held = np.array(hold.msg.points[0].positions)
    assert np.all(held >= LIMITS.lower - 1e-6) and np.all(held <= LIMITS.upper + 1e-6)
