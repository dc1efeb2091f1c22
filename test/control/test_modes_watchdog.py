# SPDX-License-Identifier: Apache-2.0
"""Mode state machine (ESTOP latch, bumpless entry, history) and the watchdog / value gate."""
from __future__ import annotations

import math

import pytest

from cosmos_policy_ros.control.modes import Mode, ModeMachine
from cosmos_policy_ros.control.watchdog import CommandWatchdog, ValueGate


def test_estop_latched_until_reset_which_goes_to_hold():
    machine = ModeMachine(Mode.POLICY)
    assert machine.estop("button", 1.0).mode == Mode.ESTOP
    for target in (Mode.POLICY, Mode.TELEOP, Mode.HOLD):
        result = machine.request(target, "try", 2.0)
        assert not result.success and result.mode == Mode.ESTOP and "reset" in result.message
    assert not machine.hold("watchdog", 2.5)
    assert machine.reset("operator", 3.0).mode == Mode.HOLD
    assert not machine.reset("again", 4.0).success


def test_transitions_recorded_with_reasons():
    machine = ModeMachine(Mode.HOLD)
    machine.request(Mode.TELEOP, "operator takes over", 1.0)
    machine.request(Mode.POLICY, "hand to policy", 2.0)
    machine.request(Mode.TELEOP, "intervene", 3.0)
    assert machine.mode == Mode.TELEOP
    assert [(c.previous, c.current, c.reason, c.time_s) for c in machine.history] == [
        (Mode.HOLD, Mode.TELEOP, "operator takes over", 1.0),
        (Mode.TELEOP, Mode.POLICY, "hand to policy", 2.0),
        (Mode.POLICY, Mode.TELEOP, "intervene", 3.0),
    ]
    assert machine.request(Mode.TELEOP, "again", 4.0).success and len(machine.history) == 3


def test_entering_policy_needs_measured_start_until_first_chunk():
    machine = ModeMachine(Mode.TELEOP)
    assert not machine.needs_measured_start
    machine.request(Mode.POLICY, "go", 1.0)
    assert machine.needs_measured_start
    machine.policy_started()
    assert not machine.needs_measured_start
    machine.hold("rejected", 2.0)
    machine.request(Mode.POLICY, "again", 3.0)
    assert machine.needs_measured_start


def test_low_value_hold_calls_for_teleop_until_next_request():
    machine = ModeMachine(Mode.POLICY)
    assert machine.hold("low value", 1.0, call_for_teleop=True)
    assert machine.mode == Mode.HOLD and machine.call_for_teleop
    machine.request(Mode.TELEOP, "human", 2.0)
    assert not machine.call_for_teleop


def test_mode_parse_and_values_match_message_constants():
    assert Mode.parse("policy") == Mode.POLICY and Mode.parse(3) == Mode.ESTOP
    assert [m.value for m in (Mode.TELEOP, Mode.POLICY, Mode.HOLD, Mode.ESTOP)] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="choices"):
        Mode.parse("fly")


def test_history_is_bounded():
    machine = ModeMachine(Mode.HOLD, history_length=2)
    for i, mode in enumerate([Mode.TELEOP, Mode.POLICY, Mode.TELEOP]):
        machine.request(mode, str(i), float(i))
    assert [c.reason for c in machine.history] == ["1", "2"]


def test_watchdog_fires_after_end_plus_margin_only_when_armed():
    dog = CommandWatchdog(margin_s=0.1)
    assert not dog.expired(1e9)
    dog.arm(10.0)
    assert not dog.expired(10.1) and dog.expired(10.1001)
    dog.arm(11.0)  # a new valid chunk extends the deadline
    assert not dog.expired(10.5)
    dog.disarm()
    assert not dog.expired(100.0)
    with pytest.raises(ValueError, match="margin_s"):
        CommandWatchdog(margin_s=-0.1)


def test_value_gate():
    gate = ValueGate(0.3)
    assert gate.calls_for_teleop(0.2) and not gate.calls_for_teleop(0.3) and not gate.calls_for_teleop(math.nan)
    assert not ValueGate(0.0).calls_for_teleop(0.0)
    assert not ValueGate(0.0).calls_for_teleop(-1.0)  # 0 = off, whatever the value (policy_node's rule too)
    assert gate.calls_for_teleop(-math.inf)  # a value known to be low is low
    with pytest.raises(ValueError, match="threshold"):
        ValueGate(1.5)
