# SPDX-License-Identifier: Apache-2.0
"""Observation assembly of the policy node (ROS-free): freshness, skew, wait-for-new."""
from __future__ import annotations

import math
import threading
from types import SimpleNamespace

import pytest

from cosmos_policy_ros.serving.observation import LatestMessages, ObservationLimits

TOPICS = ("wrist_camera/image_raw", "scene_camera/image_raw", "joint_states")
LIMITS = ObservationLimits(max_age_s=0.5, max_skew_s=0.1)


def _store_all(latest: LatestMessages, stamps: dict[str, float]) -> None:
    for topic, stamp in stamps.items():
        latest.store(topic, SimpleNamespace(topic=topic), stamp)


def test_missing_topic_is_named():
    latest = LatestMessages(TOPICS)
    _store_all(latest, {"wrist_camera/image_raw": 10.0, "joint_states": 10.0})
    result = latest.assemble(10.1, LIMITS)
    assert not result.ok and "scene_camera/image_raw" in result.reason and math.isnan(result.stamp_s)


def test_stale_topic_is_named_and_fresh_observation_uses_the_oldest_stamp():
    latest = LatestMessages(TOPICS)
    _store_all(latest, {"wrist_camera/image_raw": 9.0, "scene_camera/image_raw": 10.0, "joint_states": 10.0})
    stale = latest.assemble(10.05, LIMITS)
    assert not stale.ok and stale.reason.startswith("stale wrist_camera/image_raw")
    _store_all(latest, {"wrist_camera/image_raw": 9.98})
    good = latest.assemble(10.05, LIMITS)
    assert good.ok and good.stamp_s == 9.98 and good.age_s == pytest.approx(0.07)
    assert set(good.messages) == set(TOPICS)


def test_skew_and_future_stamps_are_rejected():
    latest = LatestMessages(TOPICS)
    _store_all(latest, {"wrist_camera/image_raw": 10.0, "scene_camera/image_raw": 10.25, "joint_states": 10.3})
    skewed = latest.assemble(10.3, LIMITS)
    assert not skewed.ok and "skew" in skewed.reason and "wrist_camera" in skewed.reason
    _store_all(latest, {t: 20.0 for t in TOPICS})
    assert not latest.assemble(10.0, LIMITS).ok  # stamped 10 s in the future: a clock fault


def test_wait_for_new_needs_every_topic_to_update():
    latest = LatestMessages(TOPICS)
    _store_all(latest, {t: 1.0 for t in TOPICS})
    used = latest.assemble(1.0, LIMITS).counts
    _store_all(latest, {"joint_states": 1.01})
    assert not latest.wait_for_new(used, timeout_s=0.01)
    later = threading.Timer(0.05, _store_all, (latest, {"wrist_camera/image_raw": 1.1,
                                                        "scene_camera/image_raw": 1.1}))
    later.start()
    assert latest.wait_for_new(used, timeout_s=5.0)
    later.join()


def test_limits_and_topics_are_validated():
    with pytest.raises(ValueError, match="max_age_s"):
        ObservationLimits(max_age_s=0.0, max_skew_s=0.1)
    with pytest.raises(ValueError, match="unique"):
        LatestMessages(("a", "a"))


