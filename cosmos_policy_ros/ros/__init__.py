# SPDX-License-Identifier: Apache-2.0
"""Thin rclpy adapters: nodes, message conversions, QoS profiles, the node-set description."""
