# SPDX-License-Identifier: Apache-2.0
"""Static checks: no unused imports, undefined names or other pyflakes findings; SPDX headers."""
from __future__ import annotations

import io
import subprocess
from pathlib import Path

from pyflakes.api import checkRecursive
from pyflakes.reporter import Reporter

REPO = Path(__file__).resolve().parents[1]
PYTHON_ROOTS = ("cosmos_policy_ros", "test", "bench", "experiments", "launch", "scripts")


def _tracked_python_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "*.py"], cwd=REPO, check=True, capture_output=True, text=True).stdout
    return [REPO / rel for rel in out.split() if rel.split("/")[0] in PYTHON_ROOTS or "/" not in rel]


def test_pyflakes_finds_nothing() -> None:
    out, err = io.StringIO(), io.StringIO()
    count = checkRecursive([str(p) for p in _tracked_python_files()], Reporter(out, err))
    assert count == 0, out.getvalue() + err.getvalue()


def test_every_python_file_has_an_spdx_header() -> None:
    missing = [str(p.relative_to(REPO)) for p in _tracked_python_files()
               if "SPDX-License-Identifier" not in "".join(p.read_text(encoding="utf-8").splitlines(True)[:3])]
    assert not missing, missing
