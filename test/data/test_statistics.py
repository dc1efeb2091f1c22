# SPDX-License-Identifier: Apache-2.0
"""Statistics in the official dataset_statistics.json format."""
import numpy as np
import pytest

from cosmos_policy_ros.data.statistics import (STAT_NAMES, dataset_statistics, load_statistics,
                                               write_statistics)


def test_keys_and_values_match_official_format(tmp_path):
    actions = [np.array([[0.0, 1.0], [2.0, 3.0]]), np.array([[4.0, 5.0]])]
    proprio = [np.array([[1.0], [3.0]]), np.array([[5.0]])]
    stats = dataset_statistics(actions, proprio)
    assert set(stats) == {f"{m}_{s}" for m in ("actions", "proprio") for s in STAT_NAMES}
    assert stats["actions_min"] == [0.0, 1.0] and stats["actions_max"] == [4.0, 5.0]
    assert stats["proprio_mean"] == [3.0] and stats["proprio_median"] == [3.0]
    assert stats["proprio_std"] == pytest.approx([np.std([1.0, 3.0, 5.0])])
    loaded = load_statistics(write_statistics(stats, tmp_path))
    np.testing.assert_array_equal(loaded["actions_max"], [4.0, 5.0])


def test_constant_dimension_is_reported(caplog):
    dataset_statistics([np.ones((3, 2))], [np.arange(3.0)[:, None]])
    assert "constant" in caplog.text


def test_empty_input_is_an_error():
    with pytest.raises(ValueError, match="N > 0"):
        dataset_statistics([np.zeros((0, 2))], [np.zeros((0, 1))])
