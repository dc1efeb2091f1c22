# SPDX-License-Identifier: Apache-2.0
"""``mode: planning_q`` trains Q(s, a) as upstream's ``mask_future_state_for_qvalue_prediction``:
rollout samples train the world model or the value with the future state masked (no loss on it,
not conditioning), so a planner in ``q_value`` mode scores with a role the weights have seen."""
from __future__ import annotations

import numpy as np

from cosmos_policy_ros.core.layout import Role
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.train.trainer import Trainer


def test_planning_q_mode_trains_the_q_value_role(make_config, monkeypatch):
    seen: list[int] = []
    original = CosmosPolicy.per_sample_loss

    def recording(self, x0, condition_latents, roles, *args, **kwargs):
        seen.extend(roles.tolist())
        return original(self, x0, condition_latents, roles, *args, **kwargs)

    monkeypatch.setattr(CosmosPolicy, "per_sample_loss", recording)
    trainer = Trainer(make_config("q", mode="planning_q", demonstration_sampling_prob=0.1, world_model_prob=0.0,
                                  steps=3))
    assert trainer.value_role is Role.Q_VALUE
    trainer.run()
    assert Role.Q_VALUE in seen and not {Role.VALUE, Role.VALUE_FUTURE} & set(seen)
    layout = trainer.model.layout
    q_cond, q_loss = layout.condition_mask(Role.Q_VALUE), layout.loss_masks(np.array([int(Role.Q_VALUE)]))[0]
    future = layout.state_indices(future=True)
    assert q_cond[layout.action_index] and not q_cond[future].any()  # conditions on s and a, not on s'
    assert not q_loss[future].any() and q_loss[layout.value_index]  # loss on the value only, not on s'
