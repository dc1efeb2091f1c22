# SPDX-License-Identifier: Apache-2.0
"""An explicitly requested random-weight model (policy_node's ``allow_random_init``): tests and timing.

Kept out of :mod:`.policy_runner`: the production runner only serves a model it is handed
(:class:`~cosmos_policy_ros.serving.policy_runner.ServedModel`); this factory builds one whose
chunks are noise around a chosen pose, and says so in every status.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosmos_policy_ros.core.codec import DatasetStatistics, NormalizationStats
from cosmos_policy_ros.core.config import LayoutConfig, get_preset
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.presets import RobotPreset
from cosmos_policy_ros.core.acceleration import DTYPES
from cosmos_policy_ros.serving.policy_runner import ServedModel
from cosmos_policy_ros.settings import check_settings, setting

RANDOM_WEIGHTS_NOTE = "RANDOM WEIGHTS (allow_random_init): chunks are noise, for tests and timing only"


@dataclass(frozen=True)
class RandomInit:
    """The random model (policy_node's ``random_init.*`` parameters).

    Args:
        preset: model preset (its layout follows the robot preset).
        action_center: actions centre on this pose (1 value or one per action dimension).
        action_half_range: normalization half range of the actions around the centre.
    """

    preset: str = setting("tiny", "Model preset of the random-weight model.", choices=("tiny", "demo-small"))
    action_center: tuple[float, ...] = setting((0.0,), "Random model: actions centre on this pose (one value for "
                                               "all joints or one per preset joint).")
    action_half_range: float = setting(0.005, "Random model: normalization half range of actions around the "
                                       "centre.", min_value=0.0, max_value=1.0)

    def __post_init__(self) -> None:
        check_settings(self)


def random_statistics(init: RandomInit, action_dim: int, proprio_dim: int) -> DatasetStatistics:
    """Actions within +-half_range (x the network's output spread) of the centre."""
    center = np.asarray(init.action_center, dtype=np.float64)
    if center.size not in (1, action_dim):
        raise ValueError(f"random_init.action_center has {center.size} values; need 1 or {action_dim}")
    center = np.broadcast_to(center, (action_dim,))
    half = np.full(action_dim, init.action_half_range)
    actions = NormalizationStats(min=center - half, max=center + half, mean=center.copy(),
                                 std=half.copy(), median=center.copy())
    return DatasetStatistics(actions=actions, proprio=DatasetStatistics.identity(action_dim, proprio_dim).proprio)


def random_model(init: RandomInit, preset: RobotPreset, device: str, dtype: str) -> ServedModel:
    """A random-weight ``init.preset`` model laid out for the robot preset (its status says RANDOM)."""
    base = get_preset(init.preset)
    layout = LayoutConfig.from_robot_preset(preset, image_size=(base.layout.image_height, base.layout.image_width))
    model = CosmosPolicy(base.replace(layout=layout), random_statistics(init, layout.action_dim, layout.proprio_dim))
    model.to(device=device)
    model.transformer.to(dtype=DTYPES[dtype])
    return ServedModel(model.eval(), f"random-{init.preset}", RANDOM_WEIGHTS_NOTE)
