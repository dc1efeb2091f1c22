# SPDX-License-Identifier: Apache-2.0
"""The operator console against real nodes over DDS: keys become service calls, the screen shows
the graph's answers. Headless (Textual's pilot) and in a real terminal (tmux, the screen captured)."""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
import uuid

import pytest

pytest.importorskip("rclpy", reason="the console needs rclpy")

from textual.widgets import Static  # noqa: E402

from cosmos_policy_ros.ros.console import OperatorConsole  # noqa: E402
from cosmos_policy_ros.ros.dds_env import DOMAIN_VAR  # noqa: E402
from cosmos_policy_ros.ros.operator_client import OperatorClient, spinning  # noqa: E402

from ros_helpers import end_processes, start_node_process, stop_process, wait_for  # noqa: E402

pytestmark = pytest.mark.ros
WAIT_S = 30.0
TMUX_SIZE = ("140", "20")


@pytest.fixture(scope="module")
def graph(module_ros_domain, tmp_path_factory):
    """One graph for the module: each test starts it in HOLD with no episode running, which is how
    the keys test leaves it (reset, then the episode ended and discarded)."""
    env = module_ros_domain.env()
    procs = [start_node_process("cosmos_policy_ros.ros.command_arbiter", env),
             start_node_process("cosmos_policy_ros.ros.recorder_node", env,
                                {"output_dir": tmp_path_factory.mktemp("console") / "bags"})]
    yield env
    try:
        for proc in procs:
            stop_process(proc)
    finally:
        end_processes(procs)  # every one, even after another did not stop (stop_process raised)


async def _until(pilot, app: OperatorConsole, text: str) -> str:
    """Pause the pilot until the status widget shows ``text``; returns the screen text."""
    deadline = time.monotonic() + WAIT_S
    while True:
        shown = str(app.query_one("#status", Static).content)
        if text in shown:
            return shown
        assert time.monotonic() < deadline, f"the console never showed {text!r}; it shows:\n{shown}"
        await pilot.pause(0.05)


def test_keys_drive_the_graph_and_the_screen_follows(graph, monkeypatch):
    monkeypatch.setenv(DOMAIN_VAR, graph[DOMAIN_VAR])  # this process's client joins the module's graph

    async def drive(app: OperatorConsole) -> None:
        async with app.run_test() as pilot:
            await _until(pilot, app, "MODE     HOLD")
            await pilot.press("t")
            await _until(pilot, app, "MODE     TELEOP")
            await pilot.press("space")
            await _until(pilot, app, "E-STOP LATCHED")
            await pilot.press("p")
            shown = await _until(pilot, app, "mode policy: REFUSED")
            assert "ESTOP is latched" in shown
            await pilot.press("r")
            await _until(pilot, app, "MODE     HOLD")
            await pilot.press("i")
            await pilot.press("s")
            await _until(pilot, app, "episode  recording")
            await pilot.press("y")
            await _until(pilot, app, " success")
            await pilot.press("d")
            await _until(pilot, app, "discarded 1")

    with spinning(lambda: OperatorClient("console_test", service_timeout_s=WAIT_S)) as client:
        asyncio.run(drive(OperatorConsole(client, ["stack the cubes"])))


@pytest.fixture
def tmux(graph):
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (apt-get install -y tmux)")
    session = f"console_{uuid.uuid4().hex[:8]}"
    command = f"{sys.executable} -m cosmos_policy_ros.cli console --instruction 'stack the cubes' --timeout {WAIT_S}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", TMUX_SIZE[0], "-y", TMUX_SIZE[1],
                    *[arg for k, v in graph.items() for arg in ("-e", f"{k}={v}")], command], check=True)
    yield session
    subprocess.run(["tmux", "kill-session", "-t", session], check=False)


def _screen(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def test_console_in_a_terminal_shows_a_mode_change_and_the_estop(tmux):
    wait_for(lambda: "MODE     HOLD" in _screen(tmux), "the console to show the arbiter's HOLD")
    subprocess.run(["tmux", "send-keys", "-t", tmux, "t"], check=True)
    wait_for(lambda: "MODE     TELEOP" in _screen(tmux), "the mode change on screen")
    subprocess.run(["tmux", "send-keys", "-t", tmux, "Space"], check=True)
    wait_for(lambda: "E-STOP LATCHED" in _screen(tmux), "the e-stop on screen")
    assert "e-stop: " in _screen(tmux)
    subprocess.run(["tmux", "send-keys", "-t", tmux, "q"], check=True)
    wait_for(lambda: subprocess.run(["tmux", "has-session", "-t", tmux], capture_output=True).returncode != 0,
             "the console to quit on q")
