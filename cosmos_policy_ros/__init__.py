# SPDX-License-Identifier: Apache-2.0
"""cosmos_policy_ros: Cosmos Policy on ROS 2 robot arms.

ROS-free subpackages (importable on a training cluster without ROS): ``core`` (the model),
``control`` (chunk timing, limits, modes), ``data`` (bags -> training sets), ``train``.
``ros`` holds the thin rclpy adapters and ``sim`` the MuJoCo arm.
"""
from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("cosmos_policy_ros")
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
