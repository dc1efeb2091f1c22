# SPDX-License-Identifier: Apache-2.0
"""The operator console: a terminal UI (Textual) over :class:`~.operator_client.OperatorClient`.

It shows what the graph says (arbiter mode and reason, policy lifecycle state, value, inference
latency, deadline misses, the last rejected chunk's reason, the recorder's episode, duration and
bag size) and turns single keys into the same service calls as the plain verbs. The e-stop key
(space) is bound with priority, so it works whatever has focus. Service calls run on worker
threads, so a slow or absent node never freezes the screen or the e-stop key; each answer (or
refusal, with the node's reason) shows on the "last action" line.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static

from cosmos_policy_ros.ros.operator_client import (MODE_NAMES, MODES, OUTCOMES, POLICY, OperatorClient,
                                                   Refused, Unavailable, recorder_status_values)

REFRESH_S = 0.2  # screen refresh period
LIFECYCLE_POLL_S = 2.0  # how often the policy's lifecycle state is asked for
LIFECYCLE_TIMEOUT_S = 1.0
ACTION_TIMEOUT_S = 5.0  # service calls from keys: long enough for a loaded machine, short for a human
BYTES_PER_MB = 1e6


def _number(value: float, fmt: str) -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, fmt)


class StatusView:
    """The console's text, from the client's latest messages (kept apart from the widgets so a
    test can read exactly what the screen shows)."""

    def __init__(self, client: OperatorClient, instructions: Sequence[str]) -> None:
        self.client = client
        self.instructions = list(instructions)
        self.instruction_index = -1  # none sent yet
        self.policy_state = "?"
        self.last_action = "-"
        self.last_rejection = "-"
        self._rejected_seen = 0

    @property
    def instruction(self) -> str:
        return self.instructions[self.instruction_index] if self.instruction_index >= 0 else ""

    def render(self) -> str:
        arbiter, policy, chunk = (self.client.last_arbiter_status, self.client.last_policy_status,
                                  self.client.last_chunk)
        lines = []
        if arbiter is None:
            lines.append("MODE     (no status from command_arbiter yet)")
        else:
            if arbiter.rejected_chunks > self._rejected_seen:  # this status carries the rejection
                self._rejected_seen, self.last_rejection = arbiter.rejected_chunks, arbiter.reason
            mode = MODE_NAMES.get(arbiter.mode, str(arbiter.mode))
            banner = "   *** E-STOP LATCHED: r resets ***" if mode == "ESTOP" else ""
            lines.append(f"MODE     {mode}{banner}")
            lines.append(f"reason   {arbiter.reason}")
            lines.append(f"value    {_number(arbiter.last_value, '.3f')}   deadline misses "
                         f"{arbiter.deadline_misses}   rejected chunks {arbiter.rejected_chunks}")
        model = policy.model_name if policy is not None else "-"
        latency = _number(chunk.inference_time_ms, ".0f") if chunk is not None else "-"
        lines.append(f"policy   {self.policy_state}   model {model}   latency {latency} ms")
        lines.append(f"last rejection  {self.last_rejection}")
        rec = recorder_status_values(self.client.last_recorder_status)
        if rec:
            size_mb = int(rec.get("size_bytes", "0")) / BYTES_PER_MB
            lines.append(f"episode  {rec['state']}  {rec['episode_id'] or '-'}  {rec['duration_s']} s  "
                         f"{size_mb:.1f} MB   kept {rec['episodes_kept']}  discarded {rec['episodes_discarded']}"
                         f"   last {rec['last_episode'] or '-'} {rec['last_outcome']}")
        else:
            lines.append("episode  (no status from recorder)")
        count = len(self.instructions)
        shown = f"[{self.instruction_index + 1}/{count}] {self.instruction!r}" if count else "(none given)"
        lines.append(f"instruction {shown}")
        lines.append(f"last action  {self.last_action}")
        return "\n".join(lines)


class OperatorConsole(App):
    """Keys: see BINDINGS (shown in the footer)."""

    BINDINGS = [
        Binding("space", "estop", "E-STOP", priority=True),
        Binding("p", "mode('policy')", "policy"),
        Binding("t", "mode('teleop')", "teleop"),
        Binding("h", "mode('hold')", "hold"),
        Binding("r", "reset", "reset e-stop"),
        Binding("s", "start_episode", "start episode"),
        Binding("y", "end_episode('success')", "end: success"),
        Binding("f", "end_episode('failure')", "end: failure"),
        Binding("d", "discard", "discard / re-record"),
        Binding("i", "next_instruction", "next instruction"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(self, client: OperatorClient, instructions: Sequence[str] = ()) -> None:
        super().__init__()
        self.client = client
        self.view = StatusView(client, instructions)
        self._stop = threading.Event()

    def compose(self) -> ComposeResult:
        yield Static(self.view.render(), id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "cosmos-policy console"
        self.set_interval(REFRESH_S, self.refresh_status)
        self.run_worker(self._poll_lifecycle, thread=True, exclusive=False, exit_on_error=False)

    def on_unmount(self) -> None:
        self._stop.set()

    def refresh_status(self) -> None:
        # a service answer may arrive after the widgets are gone (the console is closing)
        for widget in self.query("#status").results(Static):
            widget.update(self.view.render())

    def _poll_lifecycle(self) -> None:
        while not self._stop.is_set():
            try:
                self.view.policy_state = self.client.lifecycle_state(POLICY, timeout_s=LIFECYCLE_TIMEOUT_S)
            except Unavailable:
                self.view.policy_state = "not running"
            self._stop.wait(LIFECYCLE_POLL_S)

    def _act(self, what: str, call: Callable[[], str]) -> None:
        """Run a service call on a worker thread; its answer lands on the last-action line."""
        self.view.last_action = f"{what}: ..."

        def work() -> None:
            try:
                answer = call()
                self.view.last_action = f"{what}: {answer}"
            except Refused as err:
                self.view.last_action = f"{what}: REFUSED: {err}"
            except Unavailable as err:
                self.view.last_action = f"{what}: NO ANSWER: {err}"
            if self.is_running:
                self.call_from_thread(self.refresh_status)

        self.run_worker(work, thread=True, exclusive=False, exit_on_error=False)

    def action_estop(self) -> None:
        self._act("e-stop", self.client.estop)

    def action_mode(self, mode: str) -> None:
        self._act(f"mode {mode}", lambda: self.client.set_mode(MODES[mode], "operator console"))

    def action_reset(self) -> None:
        self._act("reset", self.client.reset)

    def action_start_episode(self) -> None:
        task = self.view.instruction
        self._act("start episode", lambda: self.client.start_episode(task, "operator console"))

    def action_end_episode(self, outcome: str) -> None:
        self._act(f"end episode ({outcome})",
                  lambda: self.client.end_episode(OUTCOMES[outcome], "operator console"))

    def action_discard(self) -> None:
        self._act("discard", self.client.discard_episode)

    def action_next_instruction(self) -> None:
        if not self.view.instructions:
            self.view.last_action = "next instruction: none given (console --instruction TEXT ...)"
            return
        self.view.instruction_index = (self.view.instruction_index + 1) % len(self.view.instructions)
        text = self.view.instruction
        self._act("instruction", lambda: self.client.set_instruction(text) or text)
