# SPDX-License-Identifier: Apache-2.0
"""The real ``ros2 launch`` / ``ros2`` CLI in tests, from CI's shared ros2cli kit.

``launch``/``launch_ros``/``ros2cli`` are not on PyPI. CI ships them as a kit
(``../shared/vendor/ros2cli-kit``, README there) that ``scripts/test`` installs into the venv.
Where the kit is absent a test that needs it skips with :data:`MISSING_REASON`.

Everything here follows the kit README: cosmos_policy_ros is built with colcon into its own
ament prefix (``ros2 launch`` finds packages through ``AMENT_PREFIX_PATH`` and executables in
``<prefix>/lib/<package>``, which an editable install provides neither of), ``ros2 launch`` is
stopped with SIGINT only (launch 3.7.1 answers SIGTERM by orphaning its nodes) and every verb runs
with ``--no-daemon`` so no background ``_ros2_daemon`` outlives the test.
Importable as ``ros2_kit``: pytest puts ``test/`` on sys.path.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KIT_VAR = "ROS2CLI_KIT"
KIT_DIR = Path(os.environ.get(KIT_VAR, REPO.parent / "shared" / "vendor" / "ros2cli-kit"))
VENV = Path(sys.prefix)
PACKAGE = "cosmos_policy_ros"
# Variables the kit README says to drop: a lab's RMW choice, the ignored Humble-era switch, and
# the wheels' bootstrap flag (a child with another environment must bootstrap again).
DROPPED_VARS = ("RMW_IMPLEMENTATION", "ROS_LOCALHOST_ONLY", "_ROS_WHEELS_BOOTSTRAP_COMPLETE")
LAUNCH_STOP_TIMEOUT_S = 60.0  # the README measured ~2 s; a loaded 2-core machine needs far more
VERB_TIMEOUT_S = 60.0
# How long a --no-daemon verb listens for discovery before it answers (the README's test value;
# ros2cli's own default, 0.5 s, misses nodes on a loaded machine).
SPIN_TIME_S = 3.0
UNTIL_OK_TIMEOUT_S = 120.0


def missing_reason() -> str | None:
    """Why the kit cannot be used here, or None when it can."""
    if not (KIT_DIR / "install.sh").is_file():
        return (f"ros2cli kit not found at {KIT_DIR} (CI provides ../shared/vendor/ros2cli-kit; "
                f"set {KIT_VAR} to use another copy)")
    if not kilted_wheels():
        return (f"the ros2cli kit at {KIT_DIR} is built for the ROS 2 Kilted wheels (it installs ros-kilted-*); "
                f"{VENV} holds another ROS 2, so the ros2 launch tests run on Kilted only")
    if shutil.which("ros2", path=str(VENV / "bin")) is None:
        return f"ros2cli kit at {KIT_DIR} is not installed in {VENV}: run scripts/test (it runs install.sh)"
    return None


def kilted_wheels() -> bool:
    """Whether this venv holds the ROS 2 Kilted wheels, the only ROS 2 the kit installs into."""
    try:
        metadata.distribution("ros-kilted-rclpy")
    except metadata.PackageNotFoundError:
        return False
    return True


def build_prefix(base: Path) -> Path:
    """colcon-build cosmos_policy_ros into ``base/install`` (the kit README's command) and return it."""
    env = dict(os.environ, AMENT_PREFIX_PATH=str(VENV), PATH=f"{VENV / 'bin'}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(
        [str(VENV / "bin" / "colcon"), "--log-base", str(base / "log"), "build", "--base-paths", str(REPO),
         "--packages-select", PACKAGE, "--build-base", str(base / "build"), "--install-base", str(base / "install"),
         "--merge-install"],
        cwd=base, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"colcon build of {PACKAGE} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return base / "install"


def kit_env(prefix: Path, domain_id: int, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``ros2`` process: the built prefix first, DDS on localhost on ``domain_id``."""
    env = dict(os.environ if base is None else base)
    for name in DROPPED_VARS:
        env.pop(name, None)
    env.update(AMENT_PREFIX_PATH=f"{prefix}{os.pathsep}{VENV}",
               PATH=f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", MUJOCO_GL="egl")
    return env


def _default_sigint() -> None:
    # A child inherits an ignored SIGINT (e.g. pytest started by `cmd &` in a script); the stop
    # signal must reach ros2 launch, which then stops its nodes.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Ros2Kit:
    """``ros2`` commands on one leased domain; every ``ros2 launch`` it starts, it also stops."""

    def __init__(self, prefix: Path, env: Mapping[str, str]) -> None:
        self.prefix = prefix
        self.env = dict(env)
        self._launched: list[subprocess.Popen] = []

    def ros2(self, *args: str, no_daemon: bool = True, timeout_s: float = VERB_TIMEOUT_S,
             check: bool = True) -> subprocess.CompletedProcess:
        """``ros2 ARGS... --no-daemon --spin-time 3``; raises with the output when it fails and ``check``.

        ``no_daemon=False`` for verbs without those options (``ros2 pkg``, ``ros2 interface``).
        """
        argv = ["ros2", *args, *(["--no-daemon", "--spin-time", str(SPIN_TIME_S)] if no_daemon else [])]
        result = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout_s,
                                preexec_fn=_default_sigint)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def ros2_until_ok(self, *args: str, timeout_s: float = UNTIL_OK_TIMEOUT_S) -> subprocess.CompletedProcess:
        """Rerun ``ros2 ARGS...`` until it exits 0 (a fresh CLI node may not have discovered the graph yet)."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = self.ros2(*args, check=time.monotonic() > deadline)
            if result.returncode == 0:
                return result

    def launch(self, package: str, launch_file: str, *arguments: str, cwd: Path | None = None) -> subprocess.Popen:
        """Start ``ros2 launch PACKAGE FILE ARG:=VALUE...`` (stdout+stderr as text, own process group)."""
        proc = subprocess.Popen(["ros2", "launch", package, launch_file, *arguments], env=self.env, cwd=cwd,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True, preexec_fn=_default_sigint)
        self._launched.append(proc)
        return proc

    def stop_launch(self, proc: subprocess.Popen, timeout_s: float = LAUNCH_STOP_TIMEOUT_S) -> tuple[int, str]:
        """SIGINT (never SIGTERM), wait, return (exit code, output).

        If launch is still running after ``timeout_s`` its whole process group is SIGKILLed so no
        node outlives the test, and AssertionError says so.
        """
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            output = proc.communicate(timeout=timeout_s)[0]
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output = proc.communicate()[0]
            raise AssertionError(f"ros2 launch did not stop within {timeout_s} s of SIGINT:\n{output[-4000:]}")
        finally:
            if proc in self._launched:
                self._launched.remove(proc)
            _kill_group_leftovers(proc.pid)
        return proc.returncode, output

    def close(self) -> None:
        """Stop whatever is still launched (the fixture's teardown, also after a failed test)."""
        errors = []
        for proc in list(self._launched):
            try:
                self.stop_launch(proc)
            except AssertionError as err:
                errors.append(str(err))
        if errors:
            raise AssertionError("\n".join(errors))


def _kill_group_leftovers(pgid: int) -> None:
    """After launch exited: wait for its process group to empty, else SIGKILL it and fail (orphans)."""
    deadline = time.monotonic() + LAUNCH_STOP_TIMEOUT_S
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        if time.monotonic() > deadline:
            os.killpg(pgid, signal.SIGKILL)
            raise AssertionError(f"processes of ros2 launch (group {pgid}) outlived it; killed")
        time.sleep(0.1)
