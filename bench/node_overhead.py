# SPDX-License-Identifier: Apache-2.0
"""Node overhead of the deployment path: observation on the wire -> JointTrajectory on the wire, minus the model.

Runs policy_node (random-weight tiny model, back-to-back inference) and command_arbiter (POLICY) as
processes on a leased ROS domain over real DDS. This process plays the robot in lockstep: it
publishes one observation (both cameras 224x224 rgb8 and joint_states, all stamped ``t_obs``),
waits for the arbiter's JointTrajectory for it (header stamp = ``t_obs``), and repeats. Per
observation::

    overhead = arrival of the trajectory - t_obs - ActionChunk.model_time_ms

i.e. sensor transport, observation assembly, image/joint conversion, chunk publish, chunk
transport, stitching + limit checks in the arbiter and the trajectory's transport: everything
the nodes add to the model. Prints p50/p99 with the hardware named; the last line is
``node_overhead p50_ms=<x> p99_ms=<y>`` (goal: p99 < 5 ms). Finishes in under a minute.

``--preset aloha``: the sensor load of a real ALOHA instead of lockstep. Three 640x480 rgb8
cameras at 30 Hz and each arm's joint states at 100 Hz stream (stamped now) to policy_node alone
(robot preset ``aloha`` as shipped: it declares the drivers' 640x480 and the node resizes each frame
to the model's size; random demo-small model). First with no instruction, so the node only takes
its inputs: its CPU use then is the sensor path's cost. Then an instruction starts back-to-back
decisions; per chunk ``inference_time_ms - model_time_ms`` is the node's own part of a decision
(frame deserialization, conversion, resize to the model's size, assembly, message build). Runs the
node twice, cameras converted one after the other and then in parallel threads
(``observation.parallel_cameras``, the default), and prints p50/p99 and the node's CPU in both
phases (percent of one core, from /proc) for each; last line ``node_overhead preset=aloha
p50_ms=<x> p99_ms=<y> serial_p50_ms=<z> parallel_speedup_p50=<r> cpu_sensors_pct=<x> cpu_deciding_pct=<y>``.
Usage: python bench/node_overhead.py [--preset sim_arm|aloha] [--samples 60] [--budget-s 40]
"""
from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from trajectory_msgs.msg import JointTrajectory

from cosmos_policy_msgs.msg import ActionChunk
from cosmos_policy_msgs.srv import SetInstruction
from cosmos_policy_ros.presets import load_preset
from cosmos_policy_ros.ros.conversions import NANOSECONDS_PER_SECOND, numpy_to_image, stamp_to_seconds
from cosmos_policy_ros.ros.dds_env import DomainLease, apply_local_dds_defaults
from cosmos_policy_ros.ros.qos import COMMAND_QOS, SENSOR_QOS
from cosmos_policy_ros.sim.arm_sim import HOME_POSITIONS

ROBOT = "sim_arm"
WARMUP_SAMPLES = 3  # first inferences after activation (allocator, caches) are not the steady state
START_TIMEOUT_S = 60.0
REPLY_TIMEOUT_S = 5.0
START_POLL_S = 1.0
POLL_S = 0.0005
MS_PER_S = 1000.0
BACK_TO_BACK_MARGIN_S = 10.0  # timing.margin_s > horizon: the policy starts each inference at once
STAMP_MATCH_S = 1e-6  # stamps survive the float round trip through the policy node to ~1 ns
GRIPPER_CENTER_M = 0.025  # inside the gripper's [0, 0.04] range, so the random chunks stay within limits
ARM_POSE = [*HOME_POSITIONS[:-1].tolist(), GRIPPER_CENTER_M]
POLICY_PARAMS = {"robot": ROBOT, "allow_random_init": "true", "autostart": "true",
                 "instruction": "'reach the block'", "random_init.action_center": str(ARM_POSE),
                 "random_init.action_half_range": "0.001", "timing.margin_s": str(BACK_TO_BACK_MARGIN_S)}
ARBITER_PARAMS = {"robot": ROBOT, "start_mode": "policy"}
ALOHA_CAMERA_HZ, ALOHA_JOINTS_HZ = 30.0, 100.0
# demo-small: the tiny preset's 4x4 latent frame cannot hold a 50 x 14 ALOHA chunk.
ALOHA_PARAMS = {"robot": "aloha", "allow_random_init": "true", "random_init.preset": "demo-small",
                "autostart": "true", "instruction": "''",
                "random_init.action_half_range": "0.001", "timing.margin_s": str(BACK_TO_BACK_MARGIN_S)}
CPU_WINDOW_S = 20.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _hardware() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cpus, python {platform.python_version()}"


def _start(module: str, env: dict[str, str], params: dict[str, str], remaps: dict[str, str]) -> subprocess.Popen:
    args = [a for k, v in params.items() for a in ("-p", f"{k}:={v}")]
    args += [a for k, v in remaps.items() for a in ("-r", f"{k}:={v}")]
    return subprocess.Popen([sys.executable, "-m", module, "--ros-args", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Robot:
    """Publishes observations, collects chunks (model time by stamp) and controller trajectories."""

    def __init__(self) -> None:
        self.preset = load_preset(ROBOT)
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node("node_overhead_bench", context=self.context)
        self.model_ms: dict[float, float] = {}
        self.in_node_ms: dict[float, float] = {}  # inference_time_ms - model_time_ms: policy_node's own part
        self.arrivals: dict[float, float] = {}
        node = self.node
        self.joint_pub = node.create_publisher(JointState, self.preset.joint_states_topic, SENSOR_QOS)
        self.image_pubs = [node.create_publisher(Image, c.topic, SENSOR_QOS) for c in self.preset.cameras]
        self.images = [np.full((c.height, c.width, 3), 100, np.uint8) for c in self.preset.cameras]
        node.create_subscription(ActionChunk, "/policy_node/action_chunk", self._on_chunk, COMMAND_QOS)
        node.create_subscription(JointTrajectory, "/arm_controller/joint_trajectory", self._on_trajectory,
                                 COMMAND_QOS)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def now_s(self) -> float:
        return self.node.get_clock().now().nanoseconds / NANOSECONDS_PER_SECOND

    def _on_chunk(self, msg: ActionChunk) -> None:
        stamp_s = stamp_to_seconds(msg.header.stamp)
        self.model_ms[stamp_s] = msg.model_time_ms
        self.in_node_ms[stamp_s] = msg.inference_time_ms - msg.model_time_ms

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        self.arrivals.setdefault(stamp_to_seconds(msg.header.stamp), self.now_s())

    def publish_observation(self) -> float:
        """Both images, then the joint state, all stamped now; returns the stamp [s]."""
        stamp = self.node.get_clock().now().to_msg()
        for publisher, array in zip(self.image_pubs, self.images):
            image = numpy_to_image(array)
            image.header.stamp = stamp
            publisher.publish(image)
        joints = JointState(name=list(self.preset.joints), position=ARM_POSE)
        joints.header.stamp = stamp
        self.joint_pub.publish(joints)
        return stamp_to_seconds(stamp)

    def wait(self, stamp_s: float, timeout_s: float) -> tuple[float, float] | None:
        """(overhead, policy_node's own part) [ms] for the observation stamped ``stamp_s``, or None
        if no trajectory came."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            arrival, model = _match(self.arrivals, stamp_s), _match(self.model_ms, stamp_s)
            if arrival is not None and model is not None:
                return (arrival - stamp_s) * MS_PER_S - model, _match(self.in_node_ms, stamp_s)
            time.sleep(POLL_S)
        return None

    def close(self) -> None:
        self.executor.shutdown()
        self.thread.join()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def _match(by_stamp: dict[float, float], stamp_s: float) -> float | None:
    """The value stored under ``stamp_s`` (within STAMP_MATCH_S), or None."""
    for key, value in list(by_stamp.items()):
        if abs(key - stamp_s) < STAMP_MATCH_S:
            return value
    return None


def measure(robot: Robot, samples: int, budget_s: float) -> tuple[list[tuple[float, float]], int]:
    """Lockstep observations until ``samples`` (overhead, in-node) pairs after warm-up, or the budget."""
    timings, misses, started = [], 0, time.monotonic()
    while len(timings) < samples + WARMUP_SAMPLES and time.monotonic() - started < budget_s:
        timing = robot.wait(robot.publish_observation(), REPLY_TIMEOUT_S)
        if timing is None:
            misses += 1
            continue
        timings.append(timing)
    return timings[WARMUP_SAMPLES:], misses


def cpu_seconds(pid: int) -> float:
    """User + system CPU time [s] a process has used so far (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15)


def cpu_percent(pid: int, window_s: float) -> float:
    """The process's CPU use over the next ``window_s`` seconds [% of one core]."""
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    time.sleep(window_s)
    return 100.0 * (cpu_seconds(pid) - start_cpu) / (time.monotonic() - start)


class AlohaStreams:
    """ALOHA's sensor load on ``node``: three 640x480 rgb8 cameras at 30 Hz and each follower arm's
    joint states at 100 Hz on its own topic with the driver's unprefixed names (as Trossen's
    interbotix_xs_sdk drivers publish them; config/robots/aloha.yaml), stamped now and numbered per
    topic in ``header.frame_id`` (``offered`` counts them)."""

    def __init__(self, node: Node) -> None:
        preset = load_preset("aloha")
        self.node = node
        rng = np.random.RandomState(0)
        self.frame_sizes = sorted({f"{c.width}x{c.height}" for c in preset.cameras})  # the drivers', as declared
        self.cameras = [(node.create_publisher(Image, c.topic, SENSOR_QOS),
                         numpy_to_image(rng.randint(0, 256, (c.height, c.width, 3), dtype=np.uint8)))
                        for c in preset.cameras]
        self.arms = []
        for source in preset.state_sources:
            names = [j.removeprefix(source.prefix) for j in preset.joints if j.startswith(source.prefix)]
            self.arms.append((node.create_publisher(JointState, source.topic, SENSOR_QOS),
                              JointState(name=names, position=[0.0] * len(names))))
        self.publishers = [p for p, _ in self.cameras] + [p for p, _ in self.arms]
        self.offered = {p.topic_name: 0 for p in self.publishers}
        self._camera_topics = [p.topic_name for p, _ in self.cameras]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def camera_frames(self) -> int:
        return sum(self.offered[topic] for topic in self._camera_topics)

    def _publish(self, publisher, message) -> None:
        topic = publisher.topic_name
        message.header.stamp = self.node.get_clock().now().to_msg()
        message.header.frame_id = str(self.offered[topic])
        publisher.publish(message)
        self.offered[topic] += 1

    def _run(self) -> None:
        next_camera = next_joint = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_joint:
                for publisher, joints in self.arms:
                    self._publish(publisher, joints)
                next_joint += 1.0 / ALOHA_JOINTS_HZ
            if now >= next_camera:
                for publisher, image in self.cameras:
                    self._publish(publisher, image)
                next_camera += 1.0 / ALOHA_CAMERA_HZ
            self._stop.wait(max(0.0, min(next_joint, next_camera) - time.monotonic()))

    def close(self) -> None:
        """End the streams (idempotent; also before ``start``)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


@dataclass(frozen=True)
class AlohaRun:
    """One policy_node run under the ALOHA load."""

    timings_ms: list[float]  # the node's own part of each decision after warm-up
    cpu_sensors_pct: float
    cpu_deciding_pct: float
    frame_sizes: list[str]
    camera_frames: int


def aloha_run(args: argparse.Namespace, parallel_cameras: bool) -> AlohaRun:
    """Sensor-path CPU with no decisions, then the node's own part of back-to-back decisions."""
    with DomainLease() as lease:
        env = lease.env()
        env.setdefault("OMP_NUM_THREADS", "1")
        os.environ.update(env)
        params = {**ALOHA_PARAMS, "observation.parallel_cameras": str(parallel_cameras).lower()}
        proc = _start("cosmos_policy_ros.ros.policy_node", env, params, {})
        robot = Robot()
        in_node: list[float] = []
        robot.node.create_subscription(ActionChunk, "/policy_node/action_chunk",
                                       lambda msg: in_node.append(msg.inference_time_ms - msg.model_time_ms),
                                       COMMAND_QOS)
        streams = AlohaStreams(robot.node)
        streams.start()
        try:
            client = robot.node.create_client(SetInstruction, "/policy_node/set_instruction")
            if not client.wait_for_service(timeout_sec=START_TIMEOUT_S):
                raise SystemExit("policy_node did not come up")
            cpu_sensors = cpu_percent(proc.pid, args.cpu_window_s)
            future = client.call_async(SetInstruction.Request(instruction="fold the towel"))
            deadline = time.monotonic() + START_TIMEOUT_S
            while not (future.done() and in_node) and time.monotonic() < deadline:
                time.sleep(START_POLL_S)
            start_cpu, started = cpu_seconds(proc.pid), time.monotonic()
            while len(in_node) < args.samples + WARMUP_SAMPLES and time.monotonic() - started < args.budget_s:
                time.sleep(START_POLL_S)
            cpu_deciding = 100.0 * (cpu_seconds(proc.pid) - start_cpu) / (time.monotonic() - started)
        finally:
            streams.close()
            robot.close()
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=20)
    timings = in_node[WARMUP_SAMPLES:]
    if not timings:
        raise SystemExit("no chunk came back")
    return AlohaRun(timings, cpu_sensors, cpu_deciding, streams.frame_sizes, streams.camera_frames)


def run_aloha(args: argparse.Namespace) -> None:
    """The node with its cameras converted one after the other, then in parallel threads (the
    default), in one run on one machine: the ratio is the lever's effect here."""
    runs = {parallel: aloha_run(args, parallel) for parallel in (False, True)}
    print(f"hardware: {_hardware()}")
    first = runs[True]
    print(f"aloha load: 3 cameras {'/'.join(first.frame_sizes)} rgb8 at {ALOHA_CAMERA_HZ:.0f} Hz, "
          f"joint states at {ALOHA_JOINTS_HZ:.0f} Hz (demo-small random model)")
    percentiles = {}
    for parallel, run in runs.items():
        p50, p99 = percentiles[parallel] = np.percentile(run.timings_ms, [50, 99])
        print(f"observation.parallel_cameras={str(parallel).lower()}: {len(run.timings_ms)} decisions (after "
              f"{WARMUP_SAMPLES} warm-up), node's own part ms p50 {p50:.2f}, p99 {p99:.2f}, max "
              f"{max(run.timings_ms):.2f} (goal p99 < 5 ms); CPU {run.cpu_sensors_pct:.1f} % of a core taking "
              f"inputs only, {run.cpu_deciding_pct:.1f} % deciding; {run.camera_frames} frames published")
    (p50, p99), (serial_p50, _) = percentiles[True], percentiles[False]
    print(f"node_overhead preset=aloha p50_ms={p50:.2f} p99_ms={p99:.2f} serial_p50_ms={serial_p50:.2f} "
          f"parallel_speedup_p50={serial_p50 / p50:.2f} cpu_sensors_pct={first.cpu_sensors_pct:.1f} "
          f"cpu_deciding_pct={first.cpu_deciding_pct:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("sim_arm", "aloha"), default="sim_arm",
                        help="sim_arm: lockstep end-to-end overhead; aloha: streamed ALOHA sensor load")
    parser.add_argument("--samples", type=int, default=60, help="observations to time after warm-up")
    parser.add_argument("--budget-s", type=float, default=40.0, help="stop collecting after this long [s]")
    parser.add_argument("--cpu-window-s", type=float, default=CPU_WINDOW_S,
                        help="aloha: how long the inputs-only CPU use is measured [s]")
    args = parser.parse_args()
    apply_local_dds_defaults()
    if args.preset == "aloha":
        run_aloha(args)
        return
    with DomainLease() as lease:
        env = lease.env()
        env.setdefault("OMP_NUM_THREADS", "1")
        os.environ.update(env)
        procs = [_start("cosmos_policy_ros.ros.policy_node", env, POLICY_PARAMS, {}),
                 _start("cosmos_policy_ros.ros.command_arbiter", env, ARBITER_PARAMS,
                        {"action_chunk": "/policy_node/action_chunk"})]
        robot = Robot()
        try:
            ready = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < ready:  # until an observation is answered: the graph is up
                if robot.wait(robot.publish_observation(), START_POLL_S) is not None:
                    break
            timings, misses = measure(robot, args.samples, args.budget_s)
        finally:
            robot.close()
            for proc in procs:
                proc.send_signal(signal.SIGINT)
            for proc in procs:
                proc.wait(timeout=20)
    if not timings:
        raise SystemExit(f"no trajectory came back ({misses} observations unanswered)")
    overheads, in_node = np.array(timings).T  # (n,), (n,)
    p50, p99 = np.percentile(overheads, [50, 99])
    print(f"hardware: {_hardware()}")
    print(f"{len(overheads)} observations (after {WARMUP_SAMPLES} warm-up), {misses} unanswered; "
          f"overhead ms: p50 {p50:.2f}, p99 {p99:.2f}, max {max(overheads):.2f} (goal p99 < 5 ms)")
    print(f"of which inside policy_node (assembly, conversion, publish): p50 {np.percentile(in_node, 50):.2f}, "
          f"p99 {np.percentile(in_node, 99):.2f}; the rest is DDS transport (observation, chunk, "
          f"trajectory) and the arbiter")
    print(f"node_overhead p50_ms={p50:.2f} p99_ms={p99:.2f}")


if __name__ == "__main__":
    main()
