# SPDX-License-Identifier: Apache-2.0
"""Every candidate's end-effector path as a ``visualization_msgs/MarkerArray`` (RViz, Foxglove).

One LINE_STRIP per candidate in the URDF root frame, coloured from red (value 0) to green
(value 1); the selected candidate is drawn thicker. The array starts with a DELETEALL marker so
a decision with fewer candidates leaves no stale paths (RViz ``visualization_msgs`` semantics).
"""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

NAMESPACE = "candidates"
LINE_WIDTH_M = 0.004
SELECTED_LINE_WIDTH_M = 0.012


def value_colour(value: float) -> ColorRGBA:
    """Red (0) -> yellow (0.5) -> green (1); grey for a non-finite value."""
    if not np.isfinite(value):
        return ColorRGBA(r=0.5, g=0.5, b=0.5, a=1.0)
    v = float(np.clip(value, 0.0, 1.0))
    return ColorRGBA(r=min(1.0, 2.0 * (1.0 - v)), g=min(1.0, 2.0 * v), b=0.0, a=1.0)


def candidate_path_markers(paths: np.ndarray, values: np.ndarray, selected: int, frame_id: str,
                           stamp: Time) -> MarkerArray:
    """(n, K, 3) tip positions and (n,) scores -> DELETEALL + one LINE_STRIP per candidate (id = index)."""
    markers = [Marker(action=Marker.DELETEALL, ns=NAMESPACE)]
    for index, (path, value) in enumerate(zip(paths, values)):
        marker = Marker(ns=NAMESPACE, id=index, type=Marker.LINE_STRIP, action=Marker.ADD,
                        color=value_colour(float(value)),
                        points=[Point(x=float(x), y=float(y), z=float(z)) for x, y, z in path])
        marker.header.frame_id, marker.header.stamp = frame_id, stamp
        marker.pose.orientation.w = 1.0
        marker.scale.x = SELECTED_LINE_WIDTH_M if index == selected else LINE_WIDTH_M
        markers.append(marker)
    return MarkerArray(markers=markers)
