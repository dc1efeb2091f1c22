# SPDX-License-Identifier: Apache-2.0
"""The command path's mode state machine: TELEOP / POLICY / HOLD / ESTOP.

One object owns the mode, so a hand-off is one state change in one place. Rules:

* ESTOP can be entered from anywhere and is latched: only :meth:`ModeMachine.reset` leaves it,
  and it leaves to HOLD (never straight back to motion).
* TELEOP <-> POLICY, and either <-> HOLD, are allowed on request. POLICY -> TELEOP is immediate.
* Entering POLICY is bumpless: :attr:`ModeMachine.needs_measured_start` becomes True and stays
  True until the next accepted policy chunk has been stitched onto the *measured* state
  (:meth:`ModeMachine.policy_started`).
* Safety holds (rejected chunk, watchdog, low value) go through :meth:`ModeMachine.hold`; a low
  value also raises ``call_for_teleop``, cleared by the next requested mode change.
* Every change carries a reason and is appended to a bounded history.

Values equal ``cosmos_policy_msgs/PolicyStatus.MODE_*`` (checked by a test in test/ros).
"""
from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

DEFAULT_HISTORY_LENGTH = 1000


class Mode(enum.IntEnum):
    """Mode of the command path; values are PolicyStatus.MODE_* / SetMode.MODE_*."""

    TELEOP = 0
    POLICY = 1
    HOLD = 2
    ESTOP = 3

    @classmethod
    def parse(cls, name_or_value: str | int) -> "Mode":
        """``"policy"``/``"POLICY"``/``1`` -> Mode.POLICY; anything else raises ValueError naming choices."""
        try:
            if isinstance(name_or_value, str):
                return cls[name_or_value.strip().upper()]
            return cls(int(name_or_value))
        except (KeyError, ValueError):
            raise ValueError(f"unknown mode {name_or_value!r}; choices: "
                             f"{[m.name.lower() for m in cls]}") from None


@dataclass(frozen=True)
class ModeChange:
    """One recorded transition."""

    previous: Mode
    current: Mode
    reason: str
    time_s: float


@dataclass(frozen=True)
class RequestResult:
    """Outcome of a mode request: whether it was accepted, a message, and the mode now in effect."""

    success: bool
    message: str
    mode: Mode


class ModeMachine:
    """Holds the mode and enforces the legal transitions (see the module docstring)."""

    def __init__(self, initial: Mode = Mode.HOLD, reason: str = "start",
                 history_length: int = DEFAULT_HISTORY_LENGTH) -> None:
        if history_length < 1:
            raise ValueError(f"ModeMachine history_length={history_length} must be >= 1")
        self._mode = Mode(initial)
        self._reason = reason
        self._history: deque[ModeChange] = deque(maxlen=history_length)
        self.needs_measured_start = self._mode == Mode.POLICY
        self.call_for_teleop = False

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def reason(self) -> str:
        """Why the current mode was entered."""
        return self._reason

    @property
    def history(self) -> tuple[ModeChange, ...]:
        """Transitions, oldest first (bounded by ``history_length``)."""
        return tuple(self._history)

    def request(self, target: Mode, reason: str, now_s: float) -> RequestResult:
        """An operator's (or SetMode's) request. ESTOP is latched; use :meth:`reset` to leave it."""
        target = Mode(target)
        if target == Mode.ESTOP:
            return self.estop(reason, now_s)
        if self._mode == Mode.ESTOP:
            return RequestResult(False, f"ESTOP is latched ({self._reason}); call reset first", self._mode)
        self.call_for_teleop = False
        if target == self._mode:
            return RequestResult(True, f"already in {target.name}", self._mode)
        self._change(target, reason, now_s)
        return RequestResult(True, f"{target.name}: {reason}", self._mode)

    def estop(self, reason: str, now_s: float) -> RequestResult:
        """Enter ESTOP from any mode (idempotent)."""
        if self._mode != Mode.ESTOP:
            self._change(Mode.ESTOP, reason, now_s)
        return RequestResult(True, f"ESTOP: {self._reason}", self._mode)

    def reset(self, reason: str, now_s: float) -> RequestResult:
        """Leave ESTOP to HOLD; refused (success False) when not in ESTOP."""
        if self._mode != Mode.ESTOP:
            return RequestResult(False, f"not in ESTOP (mode {self._mode.name})", self._mode)
        self.call_for_teleop = False
        self._change(Mode.HOLD, reason, now_s)
        return RequestResult(True, f"HOLD: {reason}", self._mode)

    def hold(self, reason: str, now_s: float, call_for_teleop: bool = False) -> bool:
        """A safety hold (rejection, watchdog, low value). Ignored in ESTOP and HOLD.

        Returns:
            True if the mode changed to HOLD.
        """
        if self._mode in (Mode.ESTOP, Mode.HOLD):
            return False
        self.call_for_teleop = call_for_teleop
        self._change(Mode.HOLD, reason, now_s)
        return True

    def policy_started(self) -> None:
        """The first policy chunk after entering POLICY was stitched onto the measured state."""
        self.needs_measured_start = False

    def _change(self, target: Mode, reason: str, now_s: float) -> None:
        self._history.append(ModeChange(self._mode, target, reason, now_s))
        self._mode, self._reason = target, reason
        self.needs_measured_start = target == Mode.POLICY
