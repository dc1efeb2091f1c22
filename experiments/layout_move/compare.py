# SPDX-License-Identifier: Apache-2.0
"""The issue-20 layout move, shown on the demo: HEAD's lockstep runner before (b226e4f) and after
(dc0a4f1) the move, on each commit's default demo seeds; both last lines and every episode side by side.

For each commit: a ``git worktree`` under ``--work`` (default /tmp/layout_move), HEAD's
``cosmos_policy_ros/demo/lockstep.py`` copied in as ``lockstep_runner.py`` and ``driver.py`` as
``layout_driver.py``, their imports rewritten by ``adapter_<commit>.py`` (``MOVED``: where the
commit has HEAD's modules; ``__all__``: the names it provides itself, from ``layout_adapter.py``);
then the driver under ``nice -n 19`` with that worktree first on ``PYTHONPATH``.
Run from the repository root:  python experiments/layout_move/compare.py
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEAD_ROOT = HERE.parents[1]
COMMITS = ("b226e4f", "dc0a4f1")  # before and after the move; HEAD (unchanged files) is the control
BLOCK_START = "# --- components (experiments/layout_move/ maps these names onto older layouts) ---"
BLOCK_END = "# --- end components ---"


def adapter_api(commit: str) -> tuple[dict[str, str], set[str]]:
    """The commit adapter's ``MOVED`` (HEAD module -> the commit's) and ``__all__`` (names it provides)."""
    tree = ast.parse((HERE / f"adapter_{commit}.py").read_text(encoding="utf-8"))
    values = {t.id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
              for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
              if isinstance(t, ast.Name) and t.id in ("MOVED", "__all__")}
    return values["MOVED"], set(values["__all__"])


def rewrite_imports(lines: list[str], moved: dict[str, str], provided: set[str]) -> list[str]:
    """``from cosmos_policy_ros.x import a, b`` lines for the commit: moved modules renamed, names the
    adapter provides imported from ``layout_adapter`` instead."""
    out, from_adapter, last = [], [], 0
    for line in lines:
        if not line.startswith("from cosmos_policy_ros."):
            out.append(line)
            continue
        module, names = line.split(" import ", 1)
        names = [n.strip() for n in names.split(",")]
        kept = [n for n in names if n not in provided]
        from_adapter += [n for n in names if n in provided]
        if kept:
            out.append(f"from {moved.get(module[5:], module[5:])} import {', '.join(kept)}")
        last = len(out)
    adapter_import = [f"from layout_adapter import {', '.join(from_adapter)}"] if from_adapter else []
    return out[:last] + adapter_import + out[last:]


def runner_source(commit: str) -> str:
    """HEAD's lockstep runner, its components block rewritten for ``commit``."""
    text = (HEAD_ROOT / "cosmos_policy_ros/demo/lockstep.py").read_text(encoding="utf-8")
    head, rest = text.split(BLOCK_START + "\n", 1)
    block, tail = rest.split(BLOCK_END + "\n", 1)
    return head + "\n".join(rewrite_imports(block.splitlines(), *adapter_api(commit))) + "\n" + tail


def driver_source(commit: str) -> str:
    text = (HERE / "driver.py").read_text(encoding="utf-8")
    return "\n".join(rewrite_imports(text.splitlines(), *adapter_api(commit))) + "\n"


def prepare(commit: str, work: Path) -> Path:
    tree = work / commit
    if not tree.exists():
        subprocess.run(["git", "-C", str(HEAD_ROOT), "worktree", "add", "--detach", str(tree), commit], check=True)
    head = commit == "HEAD"  # the control: runner and driver as they are
    runner = (HEAD_ROOT / "cosmos_policy_ros/demo/lockstep.py").read_text(encoding="utf-8")
    (tree / "lockstep_runner.py").write_text(runner if head else runner_source(commit), encoding="utf-8")
    driver = (HERE / "driver.py").read_text(encoding="utf-8")
    (tree / "layout_driver.py").write_text(driver if head else driver_source(commit), encoding="utf-8")
    if not head:
        shutil.copy(HERE / f"adapter_{commit}.py", tree / "layout_adapter.py")
        shutil.copy(HERE / "adapter_common.py", tree / "adapter_common.py")
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
