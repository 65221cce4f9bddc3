"""C3D with batch norm, as in VCOP and used by RSPNet, Pace and PRP.

Eight 3x3x3 convolutions (64-128-256-256-512-512-512-512), each with bias, batch norm and ReLU;
pool1 is (1,2,2), pool2-5 are (2,2,2). The original C3D's fc6/fc7 are absent: the feature is the
globally averaged conv5b map, 512-d. 27,661,440 parameters at width 1. For 16x112x112 input the
conv5b map (``return_map=True``) is 512x2x7x7, the map PRP's decoder and VCOP's retrieval read.
"""

from __future__ import annotations

import torch
from torch import nn

from vssl_bench.backbones.base import Backbone, conv_bn_relu
from vssl_bench.backbones.registry import register, scaled


class C3D(Backbone):
    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        c = [scaled(v, width) for v in (64, 128, 256, 512)]

        def conv(cin: int, cout: int) -> nn.Sequential:
            return conv_bn_relu(cin, cout, 3, padding=1, bias=True)

        self.body = nn.Sequential(
            conv(3, c[0]), nn.MaxPool3d((1, 2, 2), (1, 2, 2)),
            conv(c[0], c[1]), nn.MaxPool3d(2, 2),
            conv(c[1], c[2]), conv(c[2], c[2]), nn.MaxPool3d(2, 2),
            conv(c[2], c[3]), conv(c[3], c[3]), nn.MaxPool3d(2, 2),
            conv(c[3], c[3]), conv(c[3], c[3]),
        )
        self.feature_dim = c[3]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@register("c3d")
def c3d(width: float = 1.0) -> C3D:
    return C3D(width)
