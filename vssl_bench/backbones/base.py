"""The backbone contract: ``forward(x (B, 3, T, H, W)) -> (B, D)``, ``.feature_dim``, ``return_map``."""

from __future__ import annotations

import torch
from torch import nn


class Backbone(nn.Module):
    """Subclasses define ``features(x) -> (B, D, T', H', W')`` and set ``feature_dim = D``."""

    feature_dim: int

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, return_map: bool = False) -> torch.Tensor:
        fmap = self.features(x)
        if return_map:
            return fmap
        return fmap.mean(dim=(2, 3, 4))  # global average pool over T, H, W


def conv_bn_relu(cin: int, cout: int, kernel, stride=1, padding=0, bias: bool = False,
                 eps: float = 1e-5, momentum: float = 0.1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(cin, cout, kernel, stride=stride, padding=padding, bias=bias),
        nn.BatchNorm3d(cout, eps=eps, momentum=momentum),
        nn.ReLU(inplace=True),
    )
