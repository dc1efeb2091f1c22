# SPDX-License-Identifier: Apache-2.0
"""ROS-free data path: rosbag2 (MCAP) episodes -> aligned training sets, value targets, statistics."""
