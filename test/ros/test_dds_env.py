# SPDX-License-Identifier: Apache-2.0
"""Domain leases: exclusive while held, and consecutive leases never reuse the domain just left."""
from __future__ import annotations

import pytest

from cosmos_policy_ros.ros import dds_env
from cosmos_policy_ros.ros.dds_env import DomainLease


@pytest.fixture(autouse=True)
def private_lease_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(dds_env, "LEASE_DIR", tmp_path)


def test_sequential_leases_move_on_round_robin():
    candidates = range(10, 14)
    taken = []
    for _ in range(6):
        with DomainLease(candidates) as lease:
            taken.append(lease.domain_id)
    assert taken == [10, 11, 12, 13, 10, 11]


def test_a_held_domain_is_skipped_and_all_held_is_an_error():
    candidates = range(20, 22)
    with DomainLease(candidates) as first, DomainLease(candidates) as second:
        assert {first.domain_id, second.domain_id} == {20, 21}
        with pytest.raises(RuntimeError, match="no free ROS_DOMAIN_ID"):
            DomainLease(candidates).__enter__()
    with DomainLease(candidates) as again:  # released on exit
        assert again.domain_id in (20, 21)


def test_env_names_the_leased_domain_and_keeps_dds_local(monkeypatch):
    monkeypatch.delenv(dds_env.DISCOVERY_RANGE_VAR, raising=False)
    with DomainLease(range(30, 31)) as lease:
        env = lease.env({})
    assert env == {dds_env.DOMAIN_VAR: "30", dds_env.DISCOVERY_RANGE_VAR: "LOCALHOST"}
