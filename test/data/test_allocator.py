# SPDX-License-Identifier: Apache-2.0
"""release_free_memory: camera-frame-sized buffers freed after a burst leave the process's RSS;
BagWriterThread calls it periodically.

The RSS case runs in a fresh interpreter (the heap is process-wide): it frees one mmapped 4 MB block
(glibc then raises its dynamic mmap threshold), holds 200 frames of 921 kB, frees all but the last
one allocated and reports its RSS growth, with or without the release. Without it the frames came
from the heap, whose top is held by the last frame: the freed ones stay resident (~175 MB)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

from cosmos_policy_ros.data import bag_writer
from cosmos_policy_ros.data.bag_writer import BagWriterThread
from cosmos_policy_ros.data.message_types import build_typestore

FRAME_BYTES = 921_600  # one 640x480 rgb8 frame
FRAMES = 200
HELD_MB = FRAMES * FRAME_BYTES / 2**20
RELEASE_WAIT_S = 30.0

PROBE = textwrap.dedent(f"""
    import sys
    from cosmos_policy_ros.data.allocator import release_free_memory

    def rss_mb():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024

    block = bytearray(4 * 2**20)
    del block  # glibc's first large free: the dynamic mmap threshold moves to 4 MB
    before = rss_mb()
    frames = [b"x" * {FRAME_BYTES} for _ in range({FRAMES})]  # b"x" * n writes every page
    last = frames.pop()
    del frames
    released = release_free_memory() if sys.argv[1] == "release" else False
    print(released, rss_mb() - before)
""")


def _rss_growth_mb(mode: str) -> tuple[bool, float]:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    released, growth = done.stdout.split()
    return released == "True", float(growth)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim and /proc: Linux only")
def test_freed_frames_leave_rss_when_released() -> None:
    released, growth = _rss_growth_mb("release")
    assert released
    assert growth < 0.1 * HELD_MB  # only the one frame still held (~1 MB) and the list
    _, kept_growth = _rss_growth_mb("keep")
    assert kept_growth > 0.5 * HELD_MB  # the case the release is for: glibc keeps them resident


def test_the_writer_thread_releases_free_memory_periodically(monkeypatch) -> None:
    released = threading.Event()
    monkeypatch.setattr(bag_writer, "TRIM_PERIOD_S", 0.0)
    monkeypatch.setattr(bag_writer, "release_free_memory", released.set)
    writer = BagWriterThread(typestore=build_typestore())
    try:
        assert released.wait(RELEASE_WAIT_S)
    finally:
        writer.stop(timeout_s=10)
