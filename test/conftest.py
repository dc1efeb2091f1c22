# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures. Every test process keeps DDS on localhost; ROS tests lease their own domain."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import ros2_kit as kit

from cosmos_policy_ros.ros.dds_env import DOMAIN_VAR, DomainLease, apply_local_dds_defaults

apply_local_dds_defaults()
os.environ.setdefault("MUJOCO_GL", "egl")
# Tests start several processes (sim, nodes, torch) on few cores: one intra-op thread each
# avoids oversubscription that makes a 2-core machine many times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def ros_domain(monkeypatch: pytest.MonkeyPatch):
    """A ROS_DOMAIN_ID no other concurrently running test uses; set for this process and children."""
    with DomainLease() as lease:
        monkeypatch.setenv(DOMAIN_VAR, str(lease.domain_id))
        yield lease


@pytest.fixture(scope="module")
def module_ros_domain():
    """A ROS_DOMAIN_ID leased for one test module: a graph that its tests share (a module-scoped
    fixture) runs there. Only for the children's environment (``lease.env()``)."""
    with DomainLease() as lease:
        yield lease


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def ros2_kit_prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cosmos_policy_ros colcon-built into a temporary ament prefix, once per session (needs the kit)."""
    reason = kit.missing_reason()
    if reason:
        pytest.skip(reason)
    return kit.build_prefix(tmp_path_factory.mktemp("ros2_kit"))


@pytest.fixture
def ros2_kit(ros2_kit_prefix: Path, ros_domain: DomainLease):
    """The real ``ros2`` CLI on this test's leased domain; launches are SIGINT-stopped at teardown."""
    ros2 = kit.Ros2Kit(ros2_kit_prefix, kit.kit_env(ros2_kit_prefix, ros_domain.domain_id))
    try:
        yield ros2
    finally:
        ros2.close()
