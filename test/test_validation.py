# SPDX-License-Identifier: Apache-2.0
"""check_field: the shared __post_init__ check names owner, field and value; configs use it."""
from __future__ import annotations

import pytest

from cosmos_policy_ros.core.config import LayoutConfig
from cosmos_policy_ros.validation import check_field


def test_check_field_passes_when_ok_and_names_field_and_value_otherwise():
    check_field("planner config", True, "num_candidates", 0, "must be >= 1")
    with pytest.raises(ValueError, match=r"^planner config field num_candidates=0 must be >= 1$"):
        check_field("planner config", False, "num_candidates", 0, "must be >= 1")


def test_a_config_dataclass_reports_through_it():
    with pytest.raises(ValueError, match=r"^config field layout\.chunk_length=0 must be >= 1$"):
        LayoutConfig(chunk_length=0)
