# SPDX-License-Identifier: Apache-2.0
"""Give memory freed after a burst of camera frames back to the OS (glibc), so a recorder's RSS
follows what it holds instead of the most it ever held.

glibc serves a request of at least ``M_MMAP_THRESHOLD`` (128 KiB at start) with its own mmap and
unmaps it on free, but it raises that threshold to the size of every mmapped block freed (up to
32 MiB on 64-bit; mallopt(3)). After the first freed 921 kB ALOHA frame, frames come from the heap
arenas, and frames freed after a writer-queue backlog stay resident (recorder_node: +200 MB after
one backlog, docs/PERFORMANCE.md). ``malloc_trim(0)`` returns the free pages of every arena
(glibc >= 2.8). Pinning the threshold instead (every frame mmapped) cost the recorder about twice
the CPU in page faults, so the writer trims periodically. Elsewhere (not glibc) this does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache


@cache
def _malloc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
    except (OSError, TypeError, AttributeError):  # no C library found, or no malloc_trim (not glibc)
        return None


def release_free_memory() -> bool:
    """Return the C heap's free pages to the OS; True if glibc released any."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
