# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy up sim_demo`` on a PC without a display (a lab PC over ssh): no ``DISPLAY``, no
``MUJOCO_GL``. ``up`` sets ``MUJOCO_GL=egl`` for the nodes it starts, as the launch file does
(``ros/graph.environment_defaults``), so the sim arm renders and a camera frame arrives."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from cosmos_policy_ros.demo.config import DemoConfig
from cosmos_policy_ros.presets import load_preset

HANG_GUARD_S = 300.0  # only against a hang; the test ends on the first frame or on up's exit


@pytest.mark.ros
def test_up_sim_demo_renders_without_display_or_mujoco_gl(ros_domain):
    rclpy = pytest.importorskip("rclpy", reason="needs the ROS 2 Python wheels")
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    camera = load_preset(DemoConfig.resolve(DemoConfig.from_yaml().preset)).cameras[0]
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "DISPLAY", "WAYLAND_DISPLAY")}
    up = subprocess.Popen([sys.executable, "-m", "cosmos_policy_ros.cli", "up", "sim_demo", "--no-autostart",
                           "--no-expert"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("headless_probe", context=context)
    frames: list = []
    node.create_subscription(Image, "/" + camera.topic, frames.append, qos_profile_sensor_data)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        deadline = time.monotonic() + HANG_GUARD_S
        while not frames and up.poll() is None and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.2)
    finally:
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
        output, _ = up.communicate(timeout=60)
    assert frames, f"no frame on /{camera.topic}; up {up.returncode}:\n{output[-4000:]}"
    assert "[up] MUJOCO_GL unset: using egl" in output
    pixels = np.frombuffer(bytes(frames[0].data), np.uint8).reshape(frames[0].height, frames[0].width, -1)
    assert (frames[0].height, frames[0].width) == camera.frame_size and pixels.std() > 0  # a rendered scene
    assert up.returncode == 0, output[-4000:]
