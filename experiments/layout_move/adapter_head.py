# SPDX-License-Identifier: Apache-2.0
"""HEAD through the same harness (the runner keeps its own imports): what the driver needs. Its line
must equal ``cosmos-policy demo --lockstep``'s, which checks the driver against the CLI."""
from __future__ import annotations

from cosmos_policy_ros.demo.config import DemoConfig  # noqa: F401
from cosmos_policy_ros.demo.episode_runner import EpisodeConfig  # noqa: F401
from cosmos_policy_ros.demo.report import summarize, value_auc  # noqa: F401
from cosmos_policy_ros.demo.run import DemoOutcome  # noqa: F401
from cosmos_policy_ros.demo.setting import Setting  # noqa: F401
