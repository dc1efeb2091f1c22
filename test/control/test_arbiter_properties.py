# SPDX-License-Identifier: Apache-2.0
"""Property-based test of the arbiter's pure logic (issue 24).

Random joint states, policy chunks (well-formed, malformed, unbounded dt, NaN in past steps),
teleop trajectories and targets, mode requests, ESTOP/reset and watchdog ticks, in any order: every
command the arbiter returns must lie within the position, velocity and acceleration limits (from
the commanded state it starts at), carry finite, strictly increasing times that fit a Duration, end
at rest where it is a stop, and nothing may move the arm while ESTOP is latched.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosmos_policy_ros.control.action_spaces import ActionSpaceConverter
from cosmos_policy_ros.control.arbitration import Arbiter, ArbiterConfig, PolicyChunk
from cosmos_policy_ros.control.input_validation import MAX_TRAJECTORY_SPAN_S
from cosmos_policy_ros.control.limits import JointLimits, LimitArrays, check_trajectory
from cosmos_policy_ros.control.modes import Mode
from cosmos_policy_ros.control.stitching import StitchConfig

JOINTS = ("a", "b", "grip")
LIMITS = LimitArrays.from_limits({
    "a": JointLimits(-2.0, 2.0, velocity=2.0, acceleration=10.0),
    "b": JointLimits(-1.0, 1.0, velocity=1.5, acceleration=10.0),
    "grip": JointLimits(0.0, 0.04, velocity=0.1, acceleration=1.0),
}, JOINTS).without_rate_limits(["grip"])
CONFIG = ArbiterConfig(limits=LIMITS, stitch=StitchConfig(latency_margin_s=0.02, min_seam_s=0.1))
BAD_DTS = [2.0 ** 32 + 0.1, 1e9, 1e-10, -0.1, math.nan, math.inf, 0.0]
STEP_SIZES = [0.0, 0.002, 0.01, 0.01, 0.05, 0.05, 0.3, 2.0]

KINDS = st.sampled_from(["state", "chunk", "chunk", "chunk", "teleop_traj", "teleop_target", "mode", "estop",
                         "reset", "tick"])


def _base(arbiter: Arbiter, now_s: float) -> np.ndarray:
    if arbiter.commanded is not None:
        return arbiter.commanded.sample(now_s)[0]
    return arbiter.states.latest.positions


def _assert_safe(command, previous, now_s: float, measured: np.ndarray) -> None:
    traj = command.trajectory
    times = traj.times_from_start_s
    assert np.all(np.isfinite(times)) and np.all(np.diff(times) > 0), times
    assert times[-1] <= MAX_TRAJECTORY_SPAN_S + 1.0 and math.isfinite(traj.stamp_s)
    assert np.all(np.isfinite(traj.positions))
    reason = check_trajectory(traj.positions, times, LIMITS, start_velocity=traj.start_velocity,
                              start_bounds_tolerance=CONFIG.measured_tolerance)
    assert reason is None, reason
    if previous is not None and now_s <= previous.end_time_s and not np.allclose(traj.positions[0], measured):
        # a running command is joined at its own state (or, bumpless on entering POLICY, at the
        # measured one): no position or velocity step at the seam
        position, velocity = previous.sample(now_s)
        np.testing.assert_allclose(traj.positions[0], position, atol=1e-9)
        np.testing.assert_allclose(traj.start_velocity, velocity, atol=1e-9)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_no_input_sequence_commands_outside_the_limits_or_moves_in_estop(data):
    start = data.draw(st.sampled_from([Mode.POLICY, Mode.TELEOP]), label="start_mode")
    arbiter = Arbiter(dataclasses.replace(CONFIG, start_mode=start), ActionSpaceConverter("joint_position", JOINTS))
    now = 10.0
    arbiter.on_joint_state(now, JOINTS, [0.0, 0.0, 0.02], [0.0, 0.0, 0.0])
    for _ in range(data.draw(st.integers(5, 25), label="steps")):
        now += data.draw(st.sampled_from([0.0, 0.01, 0.05, 0.1, 0.3, 1.0]), label="advance")
        kind = data.draw(KINDS, label="kind")
        latched = arbiter.modes.mode == Mode.ESTOP
        previous = arbiter.commanded
        base = _base(arbiter, now)
        commands = []
        if kind == "state":
            offset = data.draw(st.sampled_from([0.0, 0.001, 0.02, 0.2, 5.0, math.nan]), label="state_offset")
            sign = data.draw(st.sampled_from([-1.0, 1.0]))
            stamp = now + data.draw(st.sampled_from([0.0, -0.01, -1e6, 1e6, math.nan]), label="stamp")
            arbiter.on_joint_state(stamp, JOINTS, (base + sign * offset).tolist(), [0.0, 0.0, 0.0], now_s=now)
        elif kind in ("chunk", "teleop_traj"):
            h = data.draw(st.integers(1, 12), label="h")
            size = data.draw(st.sampled_from(STEP_SIZES), label="step_size")
            steps = np.array(data.draw(st.lists(st.lists(st.floats(-1, 1), min_size=3, max_size=3),
                                                min_size=h, max_size=h), label="steps"))
            rows = base + np.cumsum(steps * size, axis=0)
            rows[:, 2] = np.clip(rows[:, 2], 0.0, 0.04)
            if data.draw(st.integers(0, 5), label="nan_in_first_row") == 0:
                rows[0, 0] = math.nan
            if kind == "chunk":
                # mostly well-formed (so that chunks pass and join each other), sometimes each defect
                dt = data.draw(st.sampled_from([0.1, 0.05] * 4 + BAD_DTS), label="dt")
                stamp = now - data.draw(st.sampled_from([0.0, 0.05, 0.05, 0.05, 0.2, -1.0, 1e6]), label="age")
                times = [k * dt for k in range(h)] if data.draw(st.integers(0, 5)) else [0.0] * h
                inner = data.draw(st.sampled_from([(), JOINTS, JOINTS, JOINTS, ("b", "a", "grip")]), label="names")
                chunk = PolicyChunk(stamp, JOINTS, rows.tolist(), dt, step_times_s=times, trajectory_names=inner)
                commands = arbiter.on_policy_chunk(chunk, now)
            else:
                dt = data.draw(st.sampled_from([0.1, 0.4, 1e-10, 5000.0]), label="teleop_dt")
                times = [(k + 1) * dt for k in range(h)]
                commands = arbiter.on_teleop_trajectory(JOINTS, rows.tolist(), times, 0.0, now)
        elif kind == "teleop_target":
            size = data.draw(st.sampled_from(STEP_SIZES), label="target_step")
            target = base + size * np.array([1.0, -1.0, 0.0])
            commands = arbiter.on_teleop_targets(JOINTS, target.tolist(), now)
        elif kind == "mode":
            mode = data.draw(st.sampled_from([Mode.POLICY, Mode.POLICY, Mode.TELEOP, Mode.HOLD]), label="mode")
            _, commands = arbiter.request_mode(mode, "x", now)
        elif kind == "estop":
            _, commands = arbiter.estop("x", now)
        elif kind == "reset":
            _, commands = arbiter.reset("x", now)
        else:
            commands = arbiter.on_tick(now)
        if latched:
            assert commands == [], f"{kind} moved the arm while ESTOP was latched"
        for command in commands:
            assert not command.shadow
            _assert_safe(command, previous, now, arbiter.states.latest.positions)
            previous = command.trajectory
        if arbiter.modes.mode == Mode.ESTOP and not latched and commands:
            np.testing.assert_allclose(commands[-1].trajectory.point_velocities()[-1], 0.0)
