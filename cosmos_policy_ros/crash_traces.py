# SPDX-License-Identifier: Apache-2.0
"""Python stacks on a native crash: every process we start (the CLI, every node) turns this on.

A segfault in DDS, rclpy or torch otherwise ends a process with nothing but ``-11``; with
:mod:`faulthandler` on, stderr (the node's log) shows every thread's Python stack at the crash.
"""
from __future__ import annotations

import faulthandler
import io


def enable_crash_traces() -> bool:
    """Turn :mod:`faulthandler` on for stderr; False where stderr is no file (captured in-process)."""
    try:
        faulthandler.enable()
    except (io.UnsupportedOperation, ValueError):
        return False
    return True
