# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy up``: the supervisor with real child processes, and a real node started from its argv."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from cosmos_policy_ros.commands import up
from cosmos_policy_ros.commands.up import Supervisor, parse_param_overrides
from cosmos_policy_ros.ros.graph import GraphArgs, build_graph
from cosmos_policy_ros.ros.processes import ChildSpec, child_env, node_argv

WAIT_TIMEOUT_S = 30.0


def script_child(name: str, body: str) -> ChildSpec:
    return ChildSpec(name, (sys.executable, "-c", textwrap.dedent(body)))


def sleeper(name: str, marker_dir: Path) -> ChildSpec:
    """Writes <name>.ready (its pid), then on SIGINT/SIGTERM writes <name>.stopped (the signal name), exits 0."""
    return script_child(name, f"""
        import os, pathlib, signal, time
        def stop(signum, frame):
            pathlib.Path({str(marker_dir)!r}, {name + '.stopped'!r}).write_text(signal.Signals(signum).name)
            raise SystemExit(0)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        pathlib.Path({str(marker_dir)!r}, {name + '.ready'!r}).write_text(str(os.getpid()))
        while True:
            time.sleep(0.05)
        """)


def wait_for(path: Path) -> None:
    deadline = time.monotonic() + WAIT_TIMEOUT_S
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_child_death_stops_the_others_and_names_the_dead(tmp_path):
    messages: list[str] = []
    children = [sleeper("steady", tmp_path),
                script_child("crasher", f"""
                    import pathlib, sys, time
                    while not pathlib.Path({str(tmp_path)!r}, "steady.ready").exists():
                        time.sleep(0.05)
                    sys.exit(3)
                    """)]
    code = Supervisor(children, child_env(), report=messages.append, stop_timeout_s=10.0).run()
    assert code != 0
    assert any("crasher exited with code 3" in m for m in messages), messages
    assert (tmp_path / "steady.stopped").read_text() == "SIGINT"
    assert sum("started" in m for m in messages) == 2  # one status line per node


def test_child_killed_by_a_signal_is_reported(tmp_path):
    messages: list[str] = []
    children = [sleeper("steady", tmp_path),
                script_child("victim", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")]
    assert Supervisor(children, child_env(), report=messages.append).run() != 0
    assert any("victim was killed by signal SIGKILL" in m for m in messages), messages


def test_child_ignoring_the_stop_signal_is_killed(tmp_path):
    messages: list[str] = []
    # quitter exits (which makes the supervisor stop the rest) only once stubborn ignores SIGINT:
    # before that, a SIGINT would end stubborn and the kill path would never run.
    stubborn = script_child("stubborn", f"""
        import pathlib, signal, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        pathlib.Path({str(tmp_path)!r}, "stubborn.ready").touch()
        time.sleep(600)
        """)
    quitter = script_child("quitter", f"""
        import pathlib, time
        while not pathlib.Path({str(tmp_path)!r}, "stubborn.ready").exists():
            time.sleep(0.05)
        """)
    code = Supervisor([stubborn, quitter], child_env(), report=messages.append, stop_timeout_s=1.0).run()
    assert code != 0
    assert any("stubborn did not stop" in m for m in messages), messages


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stop_signal_is_forwarded_and_exit_is_clean(tmp_path, signum):
    """The supervisor runs in its own process; the test signals it like a terminal or systemd would."""
    names = ["alpha", "beta"]
    children = [[n, list(sleeper(n, tmp_path).argv)] for n in names]
    driver = textwrap.dedent(f"""
        import json, sys
        from cosmos_policy_ros.commands.up import Supervisor
        from cosmos_policy_ros.ros.processes import ChildSpec, child_env
        children = [ChildSpec(name, tuple(argv)) for name, argv in json.loads({json.dumps(children)!r})]
        sys.exit(Supervisor(children, child_env()).run())
        """)
    proc = subprocess.Popen([sys.executable, "-c", driver], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        for name in names:
            wait_for(tmp_path / f"{name}.ready")
        proc.send_signal(signum)
        output, _ = proc.communicate(timeout=WAIT_TIMEOUT_S)
    finally:
        if proc.poll() is None:  # the test failed before a clean stop: end the driver and its children
            proc.kill()
            proc.communicate()
            for pid in [r.read_text() for r in tmp_path.glob("*.ready")]:
                with contextlib.suppress(ProcessLookupError, ValueError):  # ValueError: pid not written yet
                    os.kill(int(pid), signal.SIGKILL)
    assert proc.returncode == 0, output
    for name in names:
        assert (tmp_path / f"{name}.stopped").read_text() == signal.Signals(signum).name


def test_param_overrides_are_typed_and_checked():
    assert parse_param_overrides(["command_arbiter.limits.velocity_scale:=0.5", "policy_node.checkpoint:=/a b",
                                  "command_arbiter.shadow_mode:=true"]) == {
        "command_arbiter": {"limits.velocity_scale": 0.5, "shadow_mode": True},
        "policy_node": {"checkpoint": "/a b"}}
    with pytest.raises(ValueError, match="node.parameter:=value"):
        parse_param_overrides(["shadow_mode:=true"])


def test_print_config_lists_the_commands(capsys):
    parser = __import__("argparse").ArgumentParser()
    up.add_arguments(parser)
    assert up.run(parser.parse_args(["record", "--robot", "aloha", "--print-config"])) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert [n["name"] for n in config["nodes"]] == ["policy_node", "command_arbiter", "recorder"]
    assert config["commands"]["recorder"][:3] == [sys.executable, "-m", "cosmos_policy_ros.ros.recorder_node"]


def test_unknown_node_in_overrides_is_a_usage_error(capsys):
    parser = __import__("argparse").ArgumentParser()
    up.add_arguments(parser)
    assert up.run(parser.parse_args(["bringup", "-p", "sim_arm.seed:=1", "--print-config"])) == 2
    assert "sim_arm" in capsys.readouterr().err


@pytest.mark.ros
def test_real_node_gets_name_namespace_params_and_remaps(ros_domain, tmp_path):
    """command_arbiter started from up's argv: every --ros-args part reaches the real node."""
    rclpy = pytest.importorskip("rclpy", reason="needs the ROS 2 Python wheels")
    import rclpy.executors
    from rcl_interfaces.srv import GetParameters

    preset = yaml.safe_load((Path(up.__file__).parents[2] / "config/robots/sim_arm.yaml").read_text())
    preset.update(name="remapped_arm", controller_topic="/remapped_controller/joint_trajectory")
    preset_path = tmp_path / "remapped_arm.yaml"
    preset_path.write_text(yaml.safe_dump(preset))
    graph = build_graph("bringup", GraphArgs(robot=str(preset_path), namespace="robot1",
                                             extra_params={"command_arbiter": {"status_period_s": 0.5}}))
    proc = subprocess.Popen(node_argv(graph.node("command_arbiter"), graph), env=child_env(ros_domain.env()),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("up_probe", context=context)
    try:
        client = node.create_client(GetParameters, "/robot1/command_arbiter/get_parameters")
        assert client.wait_for_service(timeout_sec=WAIT_TIMEOUT_S), "arbiter never came up as /robot1/command_arbiter"
        future = client.call_async(GetParameters.Request(names=["status_period_s", "robot", "use_sim_time"]))
        executor = rclpy.executors.SingleThreadedExecutor(context=context)
        executor.add_node(node)
        executor.spin_until_future_complete(future, timeout_sec=WAIT_TIMEOUT_S)
        executor.shutdown()
        period, robot, sim_time = future.result().values
        assert (period.double_value, robot.string_value, sim_time.bool_value) == (0.5, str(preset_path), False)
        # the endpoint may be discovered before its node's name ("_NODE_NAME_UNKNOWN_"): wait for it
        def publishers() -> list[tuple[str, str]]:
            infos = node.get_publishers_info_by_topic("/remapped_controller/joint_trajectory")
            return [(p.node_name, p.node_namespace) for p in infos]
        deadline = time.monotonic() + WAIT_TIMEOUT_S
        while publishers() != [("command_arbiter", "/robot1")] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert publishers() == [("command_arbiter", "/robot1")]
    finally:
        node.destroy_node()
        context.try_shutdown()
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=WAIT_TIMEOUT_S)
    assert proc.returncode == 0, output
