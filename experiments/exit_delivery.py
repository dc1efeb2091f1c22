# SPDX-License-Identifier: Apache-2.0
"""Does a reliable message published right before a process exits reach its subscriber?

A child process publishes on a reliable topic until SIGTERM, then publishes one last message and
exits: at once (``--wait none``) or after ``Publisher.wait_for_all_acked`` (``--wait ack``), as
``ros/node_main.py``'s ``_flush`` does. This process counts the runs whose last message never
arrived (docs/TESTING.md, "Issue 18 (Jazzy)"). Run in each venv (Kilted, Jazzy) to compare the wheels.

Last line: ``exit_delivery wait=<none|ack> runs=<n> lost=<k>``.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from trajectory_msgs.msg import JointTrajectory

from cosmos_policy_ros.ros.qos import COMMAND_QOS

TOPIC = "exit_delivery"
ARRIVAL_WAIT_S = 2.0  # after the child exited: a last message later than this counts as lost
CHILD = r'''
import signal, sys, threading
import rclpy
from rclpy.duration import Duration
from rclpy.signals import SignalHandlerOptions
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
from cosmos_policy_ros.ros.qos import COMMAND_QOS
rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
node = rclpy.create_node("exit_delivery_child")
pub = node.create_publisher(JointTrajectory, "exit_delivery", COMMAND_QOS)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
while not stop.wait(0.05):
    pub.publish(JointTrajectory(joint_names=["alive"]))
last = JointTrajectory(joint_names=[f"j{i}" for i in range(7)])
last.points = [JointTrajectoryPoint(positions=[0.1] * 7, velocities=[0.0] * 7) for _ in range(16)]
pub.publish(last)
if sys.argv[1] == "ack":
    pub.wait_for_all_acked(Duration(seconds=2.0))
node.destroy_node()
rclpy.try_shutdown()
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wait", choices=("none", "ack"), default="none")
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()
    env = {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")}
    os.environ.update(env)
    rclpy.init()
    node = Node("exit_delivery_receiver")
    received: list[str] = []
    node.create_subscription(JointTrajectory, TOPIC, lambda msg: received.append(msg.joint_names[0]), COMMAND_QOS)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    lost = 0
    for _ in range(args.runs):
        received.clear()
        child = subprocess.Popen([sys.executable, "-c", CHILD, args.wait], env=env)
        while "alive" not in received:  # matched both ways
            time.sleep(0.005)
        child.send_signal(signal.SIGTERM)
        child.wait()
        deadline = time.monotonic() + ARRIVAL_WAIT_S
        while "j0" not in received and time.monotonic() < deadline:
            time.sleep(0.005)
        lost += "j0" not in received
    print(f"exit_delivery wait={args.wait} runs={args.runs} lost={lost}")
    executor.shutdown()
    spinner.join()
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == "__main__":
    main()
