# SPDX-License-Identifier: Apache-2.0
"""Replace a whole output folder at once: write into a temporary sibling, then swap.

A run that fails (or decides not to commit) leaves the previous folder exactly as it was, and
readers never see a half-written one. The swap is two renames on one filesystem; the old
folder is deleted only after the new one is in place.
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Staging:
    """A temporary folder next to ``target``; :meth:`commit` makes it ``target``."""

    def __init__(self, target: Path) -> None:
        self.target = Path(target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.tmp-", dir=self.target.parent))
        self.committed = False

    def commit(self) -> None:
        old = None
        if self.target.exists():
            old = self.target.with_name(f"{self.path.name}.old")
            self.target.rename(old)
        self.path.rename(self.target)
        self.committed = True
        if old is not None:
            shutil.rmtree(old)


@contextmanager
def staged(target: Path) -> Iterator[Staging]:
    """``with staged(out) as stage: write into stage.path; stage.commit()``; uncommitted work is removed."""
    stage = Staging(target)
    try:
        yield stage
    finally:
        if not stage.committed:
            shutil.rmtree(stage.path, ignore_errors=True)
