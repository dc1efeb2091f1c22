# SPDX-License-Identifier: Apache-2.0
"""ROS-free command-path logic: chunk timing and stitching, limits, modes, watchdog, action spaces."""
