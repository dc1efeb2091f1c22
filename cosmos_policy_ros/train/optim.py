# SPDX-License-Identifier: Apache-2.0
"""Optimizer, learning-rate schedule and weight EMA of the official recipe (spec 4.4).

LR factor over steps (upstream ``LambdaLinearScheduler`` as resolved)::

    factor
    1.0 |      /\\
        |     /   ---___
    0.3 |    /          ---|           warm-up: warmup_start_factor -> 1 (linear)
   0.06 |   /              |________   decay:   1 -> decay_min_factor at decay_steps (linear)
        +---+--------------+--------   after:   final_factor (constant)
            warmup         decay_steps
"""
from __future__ import annotations

from typing import Iterable

import torch

from cosmos_policy_ros.train.config import TrainConfig


def lr_factor(step: int, config: TrainConfig) -> float:
    """Multiplier of ``config.learning_rate`` at optimizer step ``step`` (0-based)."""
    if step < config.warmup_steps:
        return config.warmup_start_factor + (1.0 - config.warmup_start_factor) * step / config.warmup_steps
    if step < config.decay_steps:
        span = max(config.decay_steps - config.warmup_steps, 1)
        return 1.0 + (config.decay_min_factor - 1.0) * (step - config.warmup_steps) / span
    return config.final_factor


def build_optimizer(parameters: Iterable[torch.nn.Parameter], config: TrainConfig,
                    device: torch.device) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW (fused on CUDA, as upstream) and its LambdaLR schedule."""
    optimizer = torch.optim.AdamW([p for p in parameters if p.requires_grad], lr=config.learning_rate,
                                  betas=tuple(config.betas), eps=config.adam_eps,
                                  weight_decay=config.weight_decay,
                                  fused=device.type == "cuda")
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, config))
    return optimizer, scheduler


class WeightEMA:
    """Exponential moving average of a module's floating-point parameters (fp32 shadow copies).

    Args:
        module: the trained module (its state-dict names key the shadow weights).
        decay: shadow = decay * shadow + (1 - decay) * weight after every step.
    """

    def __init__(self, module: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {name: p.detach().float().clone() for name, p in module.state_dict().items()
                       if p.is_floating_point()}

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        for name, value in module.state_dict().items():
            if name in self.shadow:
                self.shadow[name].mul_(self.decay).add_(value.detach().float(), alpha=1.0 - self.decay)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.shadow)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = sorted(set(self.shadow) - set(state))
        if missing:
            raise KeyError(f"EMA state lacks {missing[:5]} ({len(missing)} tensors)")
        for name in self.shadow:
            self.shadow[name].copy_(state[name])
