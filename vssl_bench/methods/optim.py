"""The optimisers every recipe names (pretext methods and fine-tuning alike)."""

from __future__ import annotations

from typing import Any, Literal

import torch

Optimizer = Literal["sgd", "adam"]


def make_optimizer(name: Optimizer, groups: list[dict[str, Any]] | list[torch.nn.Parameter], lr: float,
                   momentum: float = 0.9, weight_decay: float = 0.0, nesterov: bool = False) -> torch.optim.Optimizer:
    """``sgd`` (every paper's) or ``adam`` (the quick scale's: narrow networks learn the synthetic data
    far faster with it); anything else is refused, never silently replaced."""
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer={name!r}: use sgd or adam.")
