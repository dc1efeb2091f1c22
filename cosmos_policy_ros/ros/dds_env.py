# SPDX-License-Identifier: Apache-2.0
"""Keep DDS on this machine and give parallel ROS processes their own domains.

Fast DDS (Kilted) multicasts discovery out of every network interface unless
``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` is set (``ROS_LOCALHOST_ONLY`` is ignored
since Jazzy). The project's own launchers (launch files, ``up``, demo, benches, tests) call
:func:`apply_local_dds_defaults` for the processes they start; a user's own setting wins. The
nodes themselves never touch discovery: on a robot, the controller often runs on another PC.
This module imports no ROS, so it is safe to call before rclpy is loaded.
"""
from __future__ import annotations

import fcntl
import os
from collections.abc import MutableMapping
from pathlib import Path

DISCOVERY_RANGE_VAR = "ROS_AUTOMATIC_DISCOVERY_RANGE"
DOMAIN_VAR = "ROS_DOMAIN_ID"
DEFAULT_DISCOVERY_RANGE = "LOCALHOST"
# Domain ids 0..101 are safe with Fast DDS default ports; tests lease from the upper part
# so an interactive session on the default domain 0 never sees test traffic.
LEASE_RANGE = range(40, 102)
LEASE_DIR = Path(os.environ.get("COSMOS_DOMAIN_LEASE_DIR", "/tmp/cosmos_policy_ros_domains"))


def apply_local_dds_defaults(env: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Set localhost-only discovery in ``env`` (default: ``os.environ``) unless the user chose one."""
    env = os.environ if env is None else env
    env.setdefault(DISCOVERY_RANGE_VAR, DEFAULT_DISCOVERY_RANGE)
    return env


def _next_start(count: int) -> int:
    """Round-robin start index over all leases on this machine (a counter file under a lock).

    Consecutive leases get consecutive domains, so a test never reuses the domain the previous
    one just left, where late DDS traffic of its processes could still arrive.
    """
    fd = os.open(LEASE_DIR / "next", os.O_CREAT | os.O_RDWR, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = os.read(fd, 32).strip()
        start = int(raw) % count if raw.isdigit() else 0
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, str(start + 1).encode())
        return start
    finally:
        os.close(fd)  # releases the lock


class DomainLease:
    """An exclusive ROS_DOMAIN_ID for this process and its children, held by a file lock.

    Locks are released by the kernel when the holder dies, so a crashed test never leaks a
    domain. The search starts after the last lease taken on this machine (:func:`_next_start`).
    Use as a context manager; ``domain_id`` is valid inside it.
    """

    def __init__(self, candidates: range = LEASE_RANGE) -> None:
        self._candidates = candidates
        self._fd: int | None = None
        self.domain_id: int = -1

    def __enter__(self) -> "DomainLease":
        LEASE_DIR.mkdir(parents=True, exist_ok=True)
        start = _next_start(len(self._candidates))
        for offset in range(len(self._candidates)):
            domain = self._candidates[(start + offset) % len(self._candidates)]
            fd = os.open(LEASE_DIR / f"{domain}.lock", os.O_CREAT | os.O_RDWR, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._fd, self.domain_id = fd, domain
            return self
        raise RuntimeError(f"no free ROS_DOMAIN_ID in {self._candidates} (lock folder {LEASE_DIR})")

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def env(self, base: MutableMapping[str, str] | None = None) -> dict[str, str]:
        """A copy of ``base`` (default ``os.environ``) for a child process on this domain."""
        env = dict(os.environ if base is None else base)
        apply_local_dds_defaults(env)
        env[DOMAIN_VAR] = str(self.domain_id)
        return env
