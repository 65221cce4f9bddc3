"""S3D-G as defined in RSPNet's code (the ``s3dg`` of RSPNet and ASCNet).

Separable 3D convolutions (1xkxk spatial then kx1x1 temporal, each conv + BN(eps 1e-3, momentum
0.001) + ReLU, no bias) followed by feature gating: the output is multiplied by
sigmoid(W * global-average(x) + b), a 1x1x1 convolution with bias. The stem ``sepConv1`` is a 7x7x7
separable convolution with stride 2 in T, H and W; then Inception blocks 3b-5c with the channel
lists of Xie et al. The final map has 1024 channels. 8,675,744 parameters.

Pace's S3D-G is a port of the HowTo100M S3D (TF-style "same" pooling, gating only in Inception
blocks, space-to-depth off) with a different parameter count; it is not provided here: in this suite
``s3dg`` means RSPNet's definition for every method, and the leaderboard labels Pace S3D-G rows with
that backbone.
"""

from __future__ import annotations

import torch
from torch import nn

from vssl_bench.backbones.base import Backbone, conv_bn_relu
from vssl_bench.backbones.registry import register, scaled


def _unit(cin: int, cout: int, kernel, stride=1, padding=0) -> nn.Sequential:
    return conv_bn_relu(cin, cout, kernel, stride, padding, bias=False, eps=1e-3, momentum=0.001)


class SepConvGated(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        # as in RSPNet's code, the whole stride sits on the spatial conv (its 1-frame kernel skips frames)
        self.spatial = _unit(cin, cout, (1, k, k), stride, (0, padding, padding))
        self.temporal = _unit(cout, cout, (k, 1, 1), 1, (padding, 0, 0))
        self.gate = nn.Conv3d(cout, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.temporal(self.spatial(x))
        return x * torch.sigmoid(self.gate(x.mean(dim=(2, 3, 4), keepdim=True)))


class InceptionGated(nn.Module):
    def __init__(self, cin: int, c: list[int]) -> None:
        super().__init__()
        self.branch0 = _unit(cin, c[0], 1)
        self.branch1 = nn.Sequential(_unit(cin, c[1], 1), SepConvGated(c[1], c[2], 3, 1, 1))
        self.branch2 = nn.Sequential(_unit(cin, c[3], 1), SepConvGated(c[3], c[4], 3, 1, 1))
        self.branch3 = nn.Sequential(nn.MaxPool3d(3, 1, 1), _unit(cin, c[5], 1))
        self.out_channels = c[0] + c[2] + c[4] + c[5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], 1)


_INCEPTION = {
    "3b": [64, 96, 128, 16, 32, 32], "3c": [128, 128, 192, 32, 96, 64],
    "4b": [192, 96, 208, 16, 48, 64], "4c": [160, 112, 224, 24, 64, 64], "4d": [128, 128, 256, 24, 64, 64],
    "4e": [112, 144, 288, 32, 64, 64], "4f": [256, 160, 320, 32, 128, 128],
    "5b": [256, 160, 320, 32, 128, 128], "5c": [384, 192, 384, 48, 128, 128],
}


class S3DG(Backbone):
    def __init__(self, width: float = 1.0) -> None:
        super().__init__()

        def inc(cin: int, name: str) -> InceptionGated:
            return InceptionGated(cin, [scaled(v, width) for v in _INCEPTION[name]])

        c64, c192 = scaled(64, width), scaled(192, width)
        layers: list[nn.Module] = [
            SepConvGated(3, c64, 7, stride=2, padding=3),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            _unit(c64, c64, 1),
            SepConvGated(c64, c192, 3, 1, 1),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
        ]
        cin = c192
        for name in ("3b", "3c", "pool3", "4b", "4c", "4d", "4e", "4f", "pool4", "5b", "5c"):
            if name == "pool3":
                layers.append(nn.MaxPool3d(3, 2, 1))
            elif name == "pool4":
                layers.append(nn.MaxPool3d(2, 2))
            else:
                block = inc(cin, name)
                layers.append(block)
                cin = block.out_channels
        self.body = nn.Sequential(*layers)
        self.feature_dim = cin

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@register("s3dg")
def s3dg(width: float = 1.0) -> S3DG:
    return S3DG(width)
