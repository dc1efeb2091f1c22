# SPDX-License-Identifier: Apache-2.0
"""Pins the rosbags behaviour EpisodeBagWriter relies on: a periodic flush (``storage.close_chunk()``
plus a file flush, rosbags internals) leaves complete MCAP chunks on disk, so a writer process
killed with SIGKILL leaves a bag that recovers with every message but the last flush period.
A rosbags upgrade that renames or changes these internals fails here, loudly."""
import signal
import subprocess
import sys
import textwrap
from importlib.metadata import version

import rosbags
from rosbags.highlevel import AnyReader

from cosmos_policy_ros.data.bag_recovery import is_complete, recover_bag

RATE_HZ = 100.0
FLUSH_PERIOD_S = 0.2
MESSAGES = 150
# Messages written since the last flush are at most one flush period of writes (plus the one
# that triggers the next flush).
MAX_LOST = int(FLUSH_PERIOD_S * RATE_HZ) + 1

WRITER = textwrap.dedent(f"""
    import sys, time
    from pathlib import Path
    from cosmos_policy_ros.data.bag_writer import EpisodeBagWriter
    from cosmos_policy_ros.data.message_types import EPISODE_EVENT, make_episode_event
    writer = EpisodeBagWriter(Path(sys.argv[1]), flush_period_s={FLUSH_PERIOD_S})
    for i in range({MESSAGES}):
        writer.write_message("/recorder/events", EPISODE_EVENT, 1000 + i,
                             make_episode_event(writer.typestore, 1000 + i, 0, f"ep{{i}}"))
        time.sleep({1.0 / RATE_HZ})
    print("WRITTEN", flush=True)
    time.sleep(600)  # never closes: the test kills it
""")


def test_periodic_flush_makes_data_readable_after_sigkill(tmp_path):
    bag = tmp_path / "ep"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(bag)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "WRITTEN"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert not is_complete(bag)
    report = recover_bag(bag)
    with AnyReader([bag]) as reader:
        ids = [reader.deserialize(raw, c.msgtype).episode_id for c, _, raw in reader.messages()]
    context = f"rosbags {version('rosbags')} ({rosbags.__file__})"
    assert report.recovered and report.messages == len(ids), context
    assert ids == [f"ep{i}" for i in range(len(ids))], context  # an exact prefix, in order
    assert len(ids) >= MESSAGES - MAX_LOST, (len(ids), context)
