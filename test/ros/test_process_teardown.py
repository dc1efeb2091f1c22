# SPDX-License-Identifier: Apache-2.0
"""The teardown every ROS fixture relies on (``ros_helpers.end_processes``): SIGINT, then SIGTERM,
then SIGKILL, and one stubborn process never leaves the next one running."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy", reason="ros_helpers needs rclpy")

from ros_helpers import end_processes, wait_for  # noqa: E402

pytestmark = pytest.mark.ros
STEP_TIMEOUT_S = 2.0  # per escalation step; the children below answer at once or never

# A child that obeys a signal is ended by the kernel's default action (no Python handler that a
# loaded machine may run late), so which signal ended it does not depend on the machine's load.
CHILD = """
import signal, sys, time
from pathlib import Path
signal.signal(signal.SIGINT, signal.SIG_DFL)  # Python's own handler would raise KeyboardInterrupt
ignored = sys.argv[2].split(",") if sys.argv[2] else []
for name in ignored:
    signal.signal(getattr(signal, name), signal.SIG_IGN)
print("started", flush=True)
Path(sys.argv[1]).write_text("ready")  # the handlers are installed: signals may come now
while True:
    time.sleep(1.0)
"""


def _child(tmp_path: Path, name: str, ignored: str) -> subprocess.Popen:
    ready = tmp_path / f"{name}.ready"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(ready), ignored], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    wait_for(ready.exists, f"{name} to install its signal handlers")
    return proc


def test_each_process_ends_at_the_first_signal_it_obeys_and_the_next_is_still_ended(tmp_path):
    stubborn = _child(tmp_path, "stubborn", "SIGINT,SIGTERM")
    term_only = _child(tmp_path, "term_only", "SIGINT")
    polite = _child(tmp_path, "polite", "")
    try:
        outputs = end_processes([stubborn, None, term_only, polite], STEP_TIMEOUT_S)
        codes = [proc.poll() for proc in (stubborn, term_only, polite)]  # None: still running
    finally:
        for proc in (stubborn, term_only, polite):
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert codes == [-signal.SIGKILL, -signal.SIGTERM, -signal.SIGINT]
    assert [output.split()[:1] for output in outputs] == [["started"]] * 3
