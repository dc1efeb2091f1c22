# SPDX-License-Identifier: Apache-2.0
"""experiments/ run as the README says (``python -m experiments.<name>`` from the repo root): their
imports resolve (the package, ``bench/timing.py``) and their command line parses. What they measure
is recorded in the docs; a run takes minutes of training, so it is not repeated here."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted(p.stem for p in (REPO / "experiments").glob("*.py"))


def test_the_experiments_folder_holds_the_probes():
    assert EXPERIMENTS == ["exit_delivery", "instruction_grounding", "localization_probe"]


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_starts_as_documented(name):
    out = subprocess.run([sys.executable, "-m", f"experiments.{name}", "--help"], cwd=REPO,
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: {name}.py")
