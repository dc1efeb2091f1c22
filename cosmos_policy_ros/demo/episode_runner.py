# SPDX-License-Identifier: Apache-2.0
"""Episodes on the running node graph: teleop demos, policy episodes, and the hand-off episode.

Every episode starts the same way: arbiter HOLD, sim reset with the episode's seed, then the mode
that drives the arm. It ends when the sim reports the task's END (success) or when the episode's
time limit (sim time, shorter than the task's own) runs out. Times are on the sim clock.

Hand-off timeline (sim time, t = 0 at reset)::

    TELEOP (expert) --handoff_at_s--> POLICY --first chunk executed--> policy's value threshold
    raised above its value (the forced low-value situation) --> call_for_teleop --> arbiter HOLD
    --> expert re-plans from where the arm is --> TELEOP until the task ends
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from cosmos_policy_msgs.msg import EpisodeEvent, PolicyStatus

from cosmos_policy_ros.ros.conversions import stamp_to_seconds

from cosmos_policy_ros.demo.ros_client import DemoClient, Observed

CLEAN_EXPERT = "expert_teleop"
NOISY_EXPERT = "expert_noisy"
MODE_NAMES = {PolicyStatus.MODE_TELEOP: "TELEOP", PolicyStatus.MODE_POLICY: "POLICY",
              PolicyStatus.MODE_HOLD: "HOLD", PolicyStatus.MODE_ESTOP: "ESTOP"}


@dataclass(frozen=True)
class EpisodeConfig:
    """Limits and hand-off timing of the demo's episodes.

    Args:
        task: sim task name.
        time_limit_s: sim time after which an episode fails (the task's own limit is longer).
        first_chunk_timeout_s: wall time to wait for the policy's first chunk of an episode.
        handoff_at_s: hand-off episode: sim time of teleop before the policy takes over.
        handoff_time_limit_s: hand-off episode: sim time limit from reset (below the task's 10 s).
        forced_threshold: hand-off episode: policy value threshold that forces the call for teleop.
        call_wait_s: hand-off episode: sim time to wait for that call; without it (a value
            saturated at the threshold never falls below it) the operator takes over anyway.
        wall_timeout_factor: an episode aborts after this many times its limit in wall time
            plus ``first_chunk_timeout_s`` (a stalled graph must not hang the demo).
    """

    task: str = "reach"
    time_limit_s: float = 4.0
    first_chunk_timeout_s: float = 30.0
    handoff_at_s: float = 0.3
    handoff_time_limit_s: float = 9.0
    forced_threshold: float = 1.0
    call_wait_s: float = 2.0
    wall_timeout_factor: float = 20.0

    def __post_init__(self) -> None:
        for name in ("time_limit_s", "first_chunk_timeout_s", "call_wait_s", "wall_timeout_factor"):
            if getattr(self, name) <= 0:
                raise ValueError(f"EpisodeConfig.{name}={getattr(self, name)} must be > 0")
        if not 0.0 <= self.handoff_at_s < self.time_limit_s:
            raise ValueError(f"EpisodeConfig.handoff_at_s={self.handoff_at_s} must be in [0, time_limit_s)")


@dataclass
class EpisodeResult:
    """One episode as measured: outcome, the policy's chunks, plans, mode changes and joints.

    ``values``, ``modes`` and ``events`` hold (sim time since reset [s], value in [0, 1] / mode
    name / what the driver did, e.g. the forced threshold and the call for teleop). ``plans``:
    (time, every candidate's value, the selected index) per plan-and-select decision; ``joints``:
    (time, joint name -> position) as the arm reported them (the report re-renders from them).
    """

    kind: str
    seed: int
    instruction: str
    success: bool
    duration_s: float
    values: list[tuple[float, float]] = field(default_factory=list)
    inference_ms: list[float] = field(default_factory=list)
    planning_ms: list[float] = field(default_factory=list)
    modes: list[tuple[float, str]] = field(default_factory=list)
    deadline_misses: int = 0
    events: list[tuple[float, str]] = field(default_factory=list)
    plans: list[tuple[float, list[float], int]] = field(default_factory=list)
    joints: list[tuple[float, dict[str, float]]] = field(default_factory=list)


class EpisodeRunner:
    """Runs episodes through a :class:`DemoClient` (services and topics of the graph)."""

    def __init__(self, client: DemoClient, config: EpisodeConfig) -> None:
        self.client, self.config = client, config
        self._events: list[tuple[float, str]] = []

    # --- common steps ---------------------------------------------------------------------------
    def _reset(self, seed: int, target: str = "") -> tuple[str, float]:
        self.client.set_mode(PolicyStatus.MODE_HOLD, "episode reset")
        instruction = self.client.reset_task(self.config.task, seed, target)
        reset_s = self.client.now_s()
        self.client.take_observed()
        self._events = []
        return instruction, reset_s

    def _ended(self, since_s: float) -> EpisodeEvent | None:
        events = self.client.peek(lambda o: list(o.events))
        ends = [e for e in events if e.event == EpisodeEvent.END
                and stamp_to_seconds(e.header.stamp) >= since_s]
        return ends[0] if ends else None

    def _wait_end(self, reset_s: float, limit_s: float) -> bool:
        """Until the task's END (since ``reset_s``) or the sim time ``limit_s``; True on success."""
        self.client.wait_until(lambda: self._ended(reset_s) is not None or self.client.now_s() >= limit_s,
                               self._wall_timeout_s(), "the episode to end")
        end = self._ended(reset_s)
        return end is not None and end.outcome == EpisodeEvent.OUTCOME_SUCCESS

    def _wall_timeout_s(self) -> float:
        return self.config.time_limit_s * self.config.wall_timeout_factor + self.config.first_chunk_timeout_s

    def _wait_fresh_chunk(self, since_s: float) -> None:
        """Until the policy published a chunk from an observation after ``since_s`` (no stale chunk
        from the previous scene reaches the arm)."""
        def what() -> str:
            status = self.client.last_policy_status
            return f"a policy chunk of the new episode (policy status: {status.reason if status else 'none'})"

        def fresh() -> bool:
            return self.client.peek(lambda o: any(c.stamp_s >= since_s for c in o.chunks))

        self.client.wait_until(fresh, self.config.first_chunk_timeout_s, what)

    def _result(self, kind: str, seed: int, instruction: str, success: bool, reset_s: float,
                end_s: float, misses_before: int) -> EpisodeResult:
        observed: Observed = self.client.take_observed()
        status = self.client.last_arbiter_status
        misses = (status.deadline_misses if status is not None else 0) - misses_before
        return EpisodeResult(
            kind=kind, seed=seed, instruction=instruction, success=success, duration_s=end_s - reset_s,
            values=[(c.stamp_s - reset_s, c.value) for c in observed.chunks
                    if c.stamp_s >= reset_s and math.isfinite(c.value)],
            inference_ms=[c.inference_ms for c in observed.chunks if c.stamp_s >= reset_s],
            planning_ms=[p.elapsed_ms for p in observed.plans if p.stamp_s >= reset_s],
            modes=[(t - reset_s, MODE_NAMES.get(s.mode, str(s.mode)))
                   for t, s in observed.arbiter if t >= reset_s],
            deadline_misses=max(0, misses), events=[(t - reset_s, e) for t, e in self._events],
            plans=[(p.stamp_s - reset_s, p.values, p.selected_index) for p in observed.plans if p.stamp_s >= reset_s],
            joints=[(t - reset_s, q) for t, q in observed.joints if reset_s <= t <= end_s])

    def _misses_now(self) -> int:
        status = self.client.last_arbiter_status
        return status.deadline_misses if status is not None else 0

    def _called_for_teleop(self, since_s: float) -> bool:
        """The policy asked for a human: in a plan (N > 1) or in its status (any N)."""
        status = self.client.last_policy_status
        if status is not None and status.call_for_teleop:
            return True
        return self.client.peek(lambda o: any(p.stamp_s >= since_s and p.call_for_teleop for p in o.plans))

    def warm_up(self, seed: int) -> None:
        """Wait until the policy produces chunks at all (model loaded and warmed up) on scene ``seed``."""
        instruction, _ = self._reset(seed)
        self.client.set_instruction(instruction)
        self.client.wait_until(lambda: self.client.peek(lambda o: bool(o.chunks)), self._wall_timeout_s(),
                               "the policy's first chunk after start-up")
        self.client.take_observed()

    # --- episodes -------------------------------------------------------------------------------
    def teleop_episode(self, seed: int, expert: str, record: bool, target: str = "") -> EpisodeResult:
        """The scripted expert teleoperates through the arbiter (``target``: another block of the
        seed's scene); optionally recorded."""
        instruction, reset_s = self._reset(seed, target)
        if record:
            self.client.start_episode(instruction, f"teleop {expert} {self.config.task} seed {seed}")
        self.client.set_mode(PolicyStatus.MODE_TELEOP, f"teleop demo ({expert})")
        self.client.restart_expert(expert, self.config.task, seed, enabled=True)
        success = self._wait_end(reset_s, reset_s + self.config.time_limit_s)
        end_s = self.client.now_s()
        self.client.set_mode(PolicyStatus.MODE_HOLD, "episode over")
        self.client.set_parameters(expert, {"enabled": False})
        if record:
            self.client.end_episode_if_running(success, f"teleop {expert}")
        return self._result("teleop", seed, instruction, success, reset_s, end_s, 0)

    def policy_episode(self, seed: int, record: bool) -> EpisodeResult:
        """The policy drives the arm from the start (after its first fresh chunk)."""
        misses_before = self._misses_now()
        instruction, reset_s = self._reset(seed)
        self.client.set_instruction(instruction)
        if record:
            self.client.start_episode(instruction, f"policy rollout {self.config.task} seed {seed}")
        self._wait_fresh_chunk(reset_s)
        self.client.set_mode(PolicyStatus.MODE_POLICY, "policy episode")
        success = self._wait_end(reset_s, self.client.now_s() + self.config.time_limit_s)
        end_s = self.client.now_s()
        self.client.set_mode(PolicyStatus.MODE_HOLD, "episode over")
        if record:
            self.client.end_episode_if_running(success, "policy rollout")
        return self._result("policy", seed, instruction, success, reset_s, end_s, misses_before)

    def handoff_episode(self, seed: int) -> EpisodeResult:
        """Teleop -> policy (mid-task) -> forced low value -> call for teleop -> HOLD -> teleop."""
        cfg, client = self.config, self.client
        misses_before = self._misses_now()
        instruction, reset_s = self._reset(seed)
        client.set_instruction(instruction)
        client.set_mode(PolicyStatus.MODE_TELEOP, "hand-off: teleop starts")
        client.restart_expert(CLEAN_EXPERT, cfg.task, seed, enabled=True)
        client.wait_until(lambda: client.now_s() >= reset_s + cfg.handoff_at_s, self._wall_timeout_s(),
                          "the hand-off time")
        handoff_s = client.now_s()
        self._wait_fresh_chunk(handoff_s)
        client.set_parameters(CLEAN_EXPERT, {"enabled": False})
        client.set_mode(PolicyStatus.MODE_POLICY, "hand-off: policy takes over")
        policy_s = client.now_s()
        client.wait_until(lambda: self._ended(reset_s) is not None
                          or client.peek(lambda o: sum(c.stamp_s >= policy_s for c in o.chunks)) >= 1,
                          cfg.first_chunk_timeout_s, "a policy chunk after the hand-off")
        if self._ended(reset_s) is None:
            self._force_call_for_teleop(reset_s, seed)
        success = self._wait_end(reset_s, reset_s + cfg.handoff_time_limit_s)
        end_s = client.now_s()
        client.set_mode(PolicyStatus.MODE_HOLD, "episode over")
        client.set_parameters(CLEAN_EXPERT, {"enabled": False})
        client.set_parameters("policy_node", {"value_threshold": 0.0})
        return self._result("handoff", seed, instruction, success, reset_s, end_s, misses_before)

    def _force_call_for_teleop(self, reset_s: float, seed: int) -> None:
        """Raise the policy's value threshold so its next chunk calls for teleop; answer the call."""
        client, cfg = self.client, self.config
        forced_s = client.now_s()
        client.set_parameters("policy_node", {"value_threshold": cfg.forced_threshold})
        self._events.append((forced_s, f"value threshold {cfg.forced_threshold:g}"))
        client.wait_until(lambda: self._ended(reset_s) is not None or self._called_for_teleop(forced_s)
                          or client.now_s() >= forced_s + cfg.call_wait_s,
                          cfg.first_chunk_timeout_s, "the policy's call for teleop")
        if self._ended(reset_s) is not None:
            return
        called = self._called_for_teleop(forced_s)
        reason = ("call for teleop: predicted value below threshold" if called
                  else "operator takes over: no call for teleop")  # a value saturated at the threshold
        self._events.append((client.now_s(), reason.split(":")[0]))
        client.set_mode(PolicyStatus.MODE_HOLD, reason)
        client.restart_expert(CLEAN_EXPERT, cfg.task, seed, enabled=True)
        client.set_mode(PolicyStatus.MODE_TELEOP, "hand-off: teleop finishes")
