# SPDX-License-Identifier: Apache-2.0
"""The one process supervisor that ``up``, the demo and the tests share (ros/processes.py).

``test_up.py`` drives it through ``up``'s Supervisor; these cover what only the demo and the tests
lean on: output collected from a pipe while stopping, and a child that ignores the stop signal.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

from cosmos_policy_ros.ros.processes import child_env, start_child, stop_children

PIPE_BUFFER_BYTES = 1 << 16  # Linux pipe capacity: a child writing more blocks until it is read


def script(body: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(body)]


def wait_ready(proc: subprocess.Popen) -> None:
    """Block until the child prints its ready line: from then on its signal handler is installed."""
    assert proc.stdout.readline().strip() == "ready"


def test_stop_reads_a_chatty_childs_pipe_while_it_shuts_down():
    """A child writing more than a pipe holds on SIGINT exits cleanly: the stopper reads while it waits."""
    proc = start_child(script(f"""
        import signal, sys, time
        def stop(signum, frame):
            sys.stdout.write("x" * {4 * PIPE_BUFFER_BYTES} + "\\nbye\\n")
            sys.stdout.flush()
            raise SystemExit(0)
        signal.signal(signal.SIGINT, stop)
        print("ready", flush=True)
        while True:
            time.sleep(0.05)
        """), child_env(), stdout=subprocess.PIPE, text=True)
    wait_ready(proc)
    stopped = stop_children({"chatty": proc}, signal.SIGINT, timeout_s=30.0)["chatty"]
    assert (stopped.returncode, stopped.killed) == (0, False)
    assert stopped.output.endswith("bye\n") and stopped.output.count("x") == 4 * PIPE_BUFFER_BYTES


def test_stop_kills_a_child_that_ignores_the_signal_and_says_so():
    """Only the child still running after the grace period is killed, not one that already exited."""
    stubborn = start_child(script("""
        import signal, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(600)
        """), child_env(), stdout=subprocess.PIPE, text=True)
    done = start_child(script("print('ready', flush=True)"), child_env(), stdout=subprocess.PIPE, text=True)
    wait_ready(stubborn)
    done.wait()  # exited, its pipe unread: the grace period is spent on stubborn before done is reached
    result = stop_children({"stubborn": stubborn, "done": done}, signal.SIGINT, timeout_s=0.5)
    assert result["stubborn"].killed and result["stubborn"].returncode == -signal.SIGKILL
    assert not result["done"].killed and result["done"].returncode == 0
    assert stubborn.poll() is not None and done.poll() is not None
