# SPDX-License-Identifier: Apache-2.0
"""The ``cosmos-policy`` entry point itself."""
from __future__ import annotations

import subprocess
import sys


def test_a_native_crash_prints_the_python_stacks():
    """A verb once died of SIGSEGV with nothing on stderr: the CLI turns faulthandler on, so the
    next native crash names its place (docs/TESTING.md, the CI failure of 2026-12-07)."""
    code = ("import faulthandler, io, contextlib\n"
            "from cosmos_policy_ros.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['--help'])\n"
            "print(faulthandler.is_enabled())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
