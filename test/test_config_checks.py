# SPDX-License-Identifier: Apache-2.0
"""The shared config checks: check_field names owner, field and value; unknown keys get hints."""
from __future__ import annotations

import pytest

from cosmos_policy_ros.core.config import LayoutConfig
from cosmos_policy_ros.config_checks import check_field, reject_unknown_fields


def test_check_field_passes_when_ok_and_names_field_and_value_otherwise():
    check_field("planner config", True, "num_candidates", 0, "must be >= 1")
    with pytest.raises(ValueError, match=r"^planner config field num_candidates=0 must be >= 1$"):
        check_field("planner config", False, "num_candidates", 0, "must be >= 1")


def test_a_config_dataclass_reports_through_it():
    with pytest.raises(ValueError, match=r"^config field layout\.chunk_length=0 must be >= 1$"):
        LayoutConfig(chunk_length=0)


def test_unknown_keys_are_named_with_a_close_match_and_known_keys_pass():
    reject_unknown_fields("layout", {"chunk_length": 8}, LayoutConfig)
    with pytest.raises(ValueError, match=r"^demo.yaml: unknown field\(s\) \['chunk_lenght'\]; "
                                         r"did you mean \{'chunk_lenght': \['chunk_length'\]\}\?$"):
        reject_unknown_fields("demo.yaml", {"chunk_lenght": 8}, LayoutConfig)
