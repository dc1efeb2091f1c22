# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy doctor`` against this environment: a table row per check, FAIL makes it exit non-zero."""
from __future__ import annotations

import argparse

from cosmos_policy_ros.commands import doctor


def run_doctor(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    doctor.add_arguments(parser)
    return doctor.run(parser.parse_args(list(argv)))


def test_doctor_passes_here_and_prints_every_check(capsys):
    assert run_doctor("--skip", "torch") == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == len(doctor.CHECKS) - 1
    assert any(r.startswith("cosmos_policy_msgs") and " OK " in r for r in rows)


def test_missing_interface_fails(monkeypatch, capsys):
    monkeypatch.setitem(doctor.PROJECT_INTERFACES, "cosmos_policy_msgs.msg", ("NoSuchMessage",))
    assert run_doctor("--skip", "torch", "--skip", "mujoco_rendering") == 1
    assert "FAIL" in capsys.readouterr().out


def test_dds_env_warns_about_ignored_localhost_only(monkeypatch):
    monkeypatch.setenv("ROS_LOCALHOST_ONLY", "1")
    check = doctor.check_dds_env()
    assert check.status == doctor.WARN and "ignored" in check.detail
