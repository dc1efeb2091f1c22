# SPDX-License-Identifier: Apache-2.0
"""The lab workflow as a user runs it, with the embedded sim standing in for the robot, and no
ROS code: only ``cosmos-policy`` verbs (``up``, ``record``, ``mode``, ``episode``, ``relabel``,
``convert``, ``train``, ``eval``, ``lifecycle``, ``instruction``, ``estop``, ``reset``) over real
DDS, each step checked from the files it writes.

1. ``up sim_demo`` + ``record`` (episodes end by length, sim task events ignored): four
   episodes in TELEOP (the scripted expert drives): one ended ``--failure``, one discarded and
   recorded again, two ended by ``max_episode_s`` as success; one relabelled afterwards.
2. ``up sim_demo --use-sim-time`` + ``record --use-sim-time``: a fifth episode on sim time.
3. ``convert`` (all five), ``train`` the tiny preset a few steps, ``eval`` a mid-run step.
4. ``up sim_demo`` with that step as the policy: ``lifecycle configure activate``,
   ``instruction``, POLICY and back to TELEOP, e-stop, POLICY refused, reset.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("rclpy", reason="the lab workflow needs rclpy")

from cosmos_policy_ros.data.bag_labels import OUTCOME_FAILURE, OUTCOME_SUCCESS, read_label  # noqa: E402

from ros_helpers import end_processes, wait_for  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]
CLI = [sys.executable, "-m", "cosmos_policy_ros.cli"]
VERB_TIMEOUT_S = "60"  # a verb waits this long for its service (the graph may still be starting)
EPISODE_S = 5.0  # long enough for `episode end --failure` to land first on a loaded machine
TASK = "reach the target"
STOP_TIMEOUT_S = 30.0
WAIT_S = 90.0
START_TIMEOUT_S = 180.0  # a node process's start-up (imports) on a loaded 2-core machine
GROWN_BYTES = 200_000  # an episode's bag this large holds over a second of camera frames


class Lab:
    """Background ``cosmos-policy`` processes (graph, recorder) and one-shot verbs, all logged."""

    def __init__(self, env: dict, root: Path) -> None:
        self.env, self.root = env, root
        self.procs: list[tuple[subprocess.Popen, object]] = []

    def start(self, name: str, *args: str) -> Path:
        log = self.root / f"{name}.log"
        handle = log.open("w")
        self.procs.append((subprocess.Popen([*CLI, *args], env=self.env, cwd=self.root, stdout=handle,
                                            stderr=subprocess.STDOUT), handle))
        return log

    def stop_all(self) -> None:
        """SIGINT each, newest first (``up`` stops its children), then SIGTERM, then SIGKILL."""
        try:
            end_processes((proc for proc, _ in reversed(self.procs)), STOP_TIMEOUT_S)
        finally:
            for _, handle in self.procs:
                handle.close()
            self.procs.clear()

    def verb(self, *args: str, expect: int = 0) -> str:
        timeout = ["--timeout", VERB_TIMEOUT_S] if args[0] in ("mode", "estop", "reset", "episode", "lifecycle",
                                                             "instruction") else []
        done = subprocess.run([*CLI, *args, *timeout], env=self.env, cwd=self.root, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == expect, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr


@pytest.fixture
def lab(ros_domain, tmp_path):
    made = Lab(ros_domain.env(), tmp_path)
    yield made
    made.stop_all()


def _bag_size(bag: Path) -> int:
    return sum(f.stat().st_size for f in bag.glob("*.mcap")) if bag.is_dir() else 0


def _closed(bag: Path) -> bool:
    return (bag / "metadata.yaml").is_file()


def _record(lab: Lab, out: str, *extra: str) -> None:
    lab.start(f"record_{out}", "record", "--out", out, "--max-episode-s", str(EPISODE_S),
              "--timeout-outcome", "success", "-p", "end_on_task_event:=false", *extra)


def _episode(lab: Lab, out: str) -> Path:
    """Start an episode; its bag folder."""
    episode_id = lab.verb("episode", "start", "--task", TASK).split()[0]
    return lab.root / out / episode_id


def test_record_convert_train_eval_and_operate(lab):
    root = lab.root
    # 1. real time: four kept episodes (one failed, one re-recorded), one relabelled
    lab.start("up_record", "up", "sim_demo", "--robot", "sim_arm")  # real time (the demo preset runs on /clock)
    _record(lab, "bags")
    lab.verb("mode", "teleop")
    first = _episode(lab, "bags")
    wait_for(lambda: _closed(first), "episode 1 to end at max_episode_s", WAIT_S)
    failed = _episode(lab, "bags")
    wait_for(lambda: _bag_size(failed) > GROWN_BYTES, "episode 2 to record", WAIT_S)
    lab.verb("episode", "end", "--failure")
    discarded = _episode(lab, "bags")
    wait_for(lambda: _bag_size(discarded) > 0, "the episode to discard to record", WAIT_S)
    lab.verb("episode", "discard")
    again = _episode(lab, "bags")
    wait_for(lambda: _closed(again), "the re-recorded episode to end", WAIT_S)
    fourth = _episode(lab, "bags")
    wait_for(lambda: _closed(fourth), "episode 4 to end", WAIT_S)
    wait_for(lambda: not discarded.exists() and _closed(failed), "the writer to finish", WAIT_S)
    assert sorted(p.name for p in (root / "bags").iterdir()) == sorted(b.name for b in (first, failed, again, fourth))
    assert [read_label(b) for b in (first, failed, again, fourth)] == [OUTCOME_SUCCESS, OUTCOME_FAILURE,
                                                                        OUTCOME_SUCCESS, OUTCOME_SUCCESS]
    assert "-> failure" in lab.verb("relabel", str(fourth), "failure")
    lab.stop_all()

    # 2. sim time: the sim publishes /clock, every node (and the recorder) follows it
    lab.start("up_sim_time", "up", "sim_demo", "--robot", "sim_arm", "--use-sim-time")
    _record(lab, "bags_sim", "--use-sim-time")
    lab.verb("mode", "teleop")
    sim_time = _episode(lab, "bags_sim")
    wait_for(lambda: _closed(sim_time), "the sim-time episode to end", WAIT_S)
    lab.stop_all()

    # 3. convert everything, train a few steps, evaluate a mid-run checkpoint
    report = lab.verb("convert", "bags", "bags_sim", "data/set", "--image-size", "32", "--val-fraction", "0.2")
    assert "5 episode(s) converted, 0 skipped" in report, report
    index = json.loads((root / "data/set/index.json").read_text())
    outcomes = {Path(e["source"]).name: e["outcome"] for e in index["episodes"]}
    assert outcomes == {first.name: "success", failed.name: "failure", again.name: "success",
                        fourth.name: "failure", sim_time.name: "success"}
    lab.verb("train", "--config", str(Path(__file__).parents[2] / "config/train/tiny.yaml"),
             "--set", "data_roots=[data/set]", "--set", "output_dir=runs/lab", "--set", "steps=4",
             "--set", "checkpoint_every_steps=2", "--set", "val_every_steps=2", "--set", "val_max_samples=4",
             "--set", "val_action_samples=1", "--set", "latent_cache='off'", "--set", "warmup_steps=1",
             "--set", "decay_steps=4")
    step = root / "runs/lab/checkpoints/step_00000002"
    assert (step / "config.json").is_file() and (root / "runs/lab/checkpoints/best.json").is_file()
    evaluated = lab.verb("eval", "--checkpoint", str(step), "--data", "data/set", "--stride", "8")
    eval_report = json.loads((root / "eval/lab-step_00000002/eval_report.json").read_text())
    assert {e["episode_id"] for e in eval_report["episodes"]} <= {e["episode_id"] for e in index["episodes"]}
    assert "mse per joint: shoulder_pan_joint" in evaluated

    # 4. the trained step as the policy: start it, POLICY and back, e-stop, refusal, reset. The model
    # was trained on 32 px images: its preset feeds it 32 px (policy_node refuses another size)
    preset = yaml.safe_load((Path(__file__).parents[2] / "config/robots/sim_arm.yaml").read_text())
    preset["cameras"] = [{**camera, "model_height": 32, "model_width": 32} for camera in preset["cameras"]]
    (root / "sim_arm_model32.yaml").write_text(yaml.safe_dump(preset))
    up_log = lab.start("up_policy", "up", "sim_demo", "--robot", str(root / "sim_arm_model32.yaml"), "--no-autostart",
                       "--checkpoint", str(step))  # the lifecycle verbs below configure and activate it
    # policy_node's imports (torch, diffusers) beside three other starting nodes can outlast the verb's
    # 60 s service wait on a loaded machine (run 2 of the fourth session's -m ros runs): wait for the
    # node's own word that it is up, as the other tests wait for a node's start (START_TIMEOUT_S)
    wait_for(lambda: "waiting for a lifecycle manager" in up_log.read_text(), "policy_node to start",
             START_TIMEOUT_S)
    assert "policy_node: active" in lab.verb("lifecycle", "policy_node", "configure", "activate")
    lab.verb("instruction", TASK)
    lab.verb("mode", "policy")
    lab.verb("mode", "teleop")
    lab.verb("estop")
    assert "ESTOP is latched" in lab.verb("mode", "policy", expect=1)
    lab.verb("reset")
    wait_for(lambda: "ESTOP -> HOLD" in up_log.read_text(), "the arbiter's log of the reset", WAIT_S)
    log = up_log.read_text()
    policy = log.index("-> POLICY: operator (cosmos-policy mode)")
    # an untrained policy's chunk may be rejected (POLICY -> HOLD, the reason logged) before TELEOP
    teleop = log.index("-> TELEOP: operator (cosmos-policy mode)", policy)
    assert teleop < log.index("TELEOP -> ESTOP: estop service") < log.index("ESTOP -> HOLD: reset service")
