# SPDX-License-Identifier: Apache-2.0
"""Codec behaviour beyond the upstream fixtures: constant dims, statistics files, partial copies."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cosmos_policy_ros.core import codec


def test_constant_dimension_normalizes_to_zero_and_back() -> None:
    stats = codec.DatasetStatistics.from_arrays(np.array([[0.0, 1.0], [2.0, 1.0]]), np.array([[0.0], [1.0]]))
    normalized = stats.actions.normalize(np.array([1.0, 1.0]))
    np.testing.assert_array_equal(normalized, [0.0, 0.0])
    np.testing.assert_array_equal(stats.actions.unnormalize(normalized), [1.0, 1.0])


def test_statistics_json_round_trip_and_missing_key(tmp_path: Path) -> None:
    stats = codec.DatasetStatistics.from_arrays(np.random.RandomState(0).rand(10, 3),
                                                np.random.RandomState(1).rand(10, 2))
    stats.to_json(tmp_path / "dataset_statistics.json")
    loaded = codec.DatasetStatistics.from_json(tmp_path / "dataset_statistics.json")
    assert loaded.to_dict() == stats.to_dict()
    data = stats.to_dict()
    del data["proprio_max"]
    with pytest.raises(ValueError, match="proprio_max"):
        codec.DatasetStatistics.from_dict(data)


def test_read_ignores_the_partial_copy() -> None:
    values = torch.arange(5, dtype=torch.float32)[None]
    frame = codec.tile_into_frame(values, (1, 3, 4))  # 12 entries: 2 full copies + 2
    frame.view(1, -1)[0, 10:] = 100.0
    torch.testing.assert_close(codec.read_tiled(frame, 5), values)
