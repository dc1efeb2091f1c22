# SPDX-License-Identifier: Apache-2.0
"""The issue-20 layout move, shown on the demo: HEAD's lockstep runner before (b226e4f) and after
(dc0a4f1) the move, on each commit's default demo seeds; both last lines and every episode side by side.

For each commit: a ``git worktree`` under ``--work`` (default /tmp/layout_move), HEAD's
``cosmos_policy_ros/demo/lockstep.py`` copied in as ``lockstep_runner.py`` with its components
block importing from ``layout_adapter.py`` (``adapter_<commit>.py``: the same names on that commit's
modules), then ``driver.py`` under ``nice -n 19`` with that worktree first on ``PYTHONPATH``.
Run from the repository root:  python experiments/layout_move/compare.py
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEAD_ROOT = HERE.parents[1]
COMMITS = ("b226e4f", "dc0a4f1")  # before and after the move; HEAD (adapter_head.py) is the control
BLOCK_START = "# --- components (experiments/layout_move/ maps these names onto older layouts) ---"
BLOCK_END = "# --- end components ---"


def runner_source() -> str:
    """HEAD's lockstep runner with its components imported from ``layout_adapter``."""
    text = (HEAD_ROOT / "cosmos_policy_ros/demo/lockstep.py").read_text(encoding="utf-8")
    head, rest = text.split(BLOCK_START + "\n", 1)
    block, tail = rest.split(BLOCK_END + "\n", 1)
    names = [n.strip() for line in block.splitlines() for n in line.split(" import ", 1)[1].split(",")]
    return f"{head}from layout_adapter import {', '.join(names)}  # noqa\n{tail}"


def prepare(commit: str, work: Path) -> Path:
    tree = work / commit
    if not tree.exists():
        subprocess.run(["git", "-C", str(HEAD_ROOT), "worktree", "add", "--detach", str(tree), commit], check=True)
    head = commit == "HEAD"
    runner = (HEAD_ROOT / "cosmos_policy_ros/demo/lockstep.py").read_text(encoding="utf-8") if head else runner_source()
    (tree / "lockstep_runner.py").write_text(runner, encoding="utf-8")
    shutil.copy(HERE / f"adapter_{'head' if head else commit}.py", tree / "layout_adapter.py")
    shutil.copy(HERE / "adapter_common.py", tree / "adapter_common.py")
    shutil.copy(HERE / "driver.py", tree / "layout_driver.py")
    return tree


def run(commit: str, work: Path, reuse: bool) -> dict:
    out = work / f"{commit}.json"
    if reuse and out.exists():
        return json.loads(out.read_text(encoding="utf-8"))
    tree = prepare(commit, work)
    env = {**os.environ, "PYTHONPATH": str(tree), "LAYOUT_MOVE_HEAD": str(HEAD_ROOT), "MUJOCO_GL": "egl"}
    print(f"== {commit} ({tree})", flush=True)
    subprocess.run(["nice", "-n", "19", sys.executable, "layout_driver.py", str(out)], cwd=tree, env=env, check=True)
    return json.loads(out.read_text(encoding="utf-8"))


def first_difference(a: list[dict], b: list[dict]) -> str:
    """The first episode and decision whose observation time, values or choice differ."""
    for ea, eb in zip(a, b):
        for k, (pa, pb) in enumerate(zip(ea["plans"], eb["plans"])):
            if pa != pb:
                return f"{ea['setting']} seed {ea['seed']} decision {k}: {pa} vs {pb}"
        if ea != eb:
            return f"{ea['setting']} seed {ea['seed']}: {ea['success']}/{ea['duration_s']} vs {eb['success']}/{eb['duration_s']}"
    return "none: every decision and outcome is equal"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/layout_move"))
    parser.add_argument("--head", action="store_true",
                        help="also run HEAD (committed) through the same harness, as a control")
    parser.add_argument("--reuse", action="store_true", help="keep a commit's results already in --work")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    shown = (*COMMITS, *(["HEAD"] if args.head else []))
    runs = {commit: run(commit, args.work, args.reuse) for commit in shown}
    a, b = (runs[c]["episodes"] for c in COMMITS)
    print(f"\n{'setting':22s} {'seed':>7s} " + " ".join(f"{c:>16s}" for c in shown))
    for row in zip(*(runs[c]["episodes"] for c in shown)):
        cells = [f"{'success' if e['success'] else 'failure'} {e['duration_s']:5.2f} s" for e in row]
        print(f"{row[0]['setting']:22s} {row[0]['seed']:7d} " + " ".join(f"{c:>16s}" for c in cells))
    for commit in shown:
        print(f"{commit}: {runs[commit]['last_line']}  ({runs[commit]['seconds']:.0f} s)")
    lines_equal = runs[COMMITS[0]]["last_line"] == runs[COMMITS[1]]["last_line"]
    print(f"last lines equal: {lines_equal}; episodes equal: {a == b}; first difference: {first_difference(a, b)}")
    for commit in shown:  # the results stay in --work; the worktrees go
        if (args.work / commit).exists():
            subprocess.run(["git", "-C", str(HEAD_ROOT), "worktree", "remove", "--force", str(args.work / commit)],
                           check=True)


if __name__ == "__main__":
    main()
