"""VCOP's R(2+1)D with one block per stage (``r21d10``), the "R(2+1)D" of RSPNet, Pace and PRP.

Every 3D convolution t x k x k is factorised into a spatial 1 x k x k convolution to M channels,
BN + ReLU, then a temporal t x 1 x 1 convolution, with M = floor(t k^2 Cin Cout / (k^2 Cin + t Cout))
(Tran et al., sec. 3.5) so the factorised pair has about the parameters of the full 3D kernel. The
stem factorises 3x7x7 with stride (1,2,2); stages 3-5 downsample T, H, W by 2, their shortcut being a
factorised 1x1x1 stride-2 convolution + BN. No biases. 14,365,303 parameters. This is not
torchvision's R(2+1)D-18 (two blocks per stage, a different stem); SEVERE notes the difference.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.modules.utils import _triple

from vssl_bench.backbones.base import Backbone
from vssl_bench.backbones.registry import register, scaled


class Conv2Plus1d(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0) -> None:
        (t, h, w), (st, sh, sw), (pt, ph, pw) = _triple(kernel), _triple(stride), _triple(padding)
        mid = math.floor(t * h * w * cin * cout / (h * w * cin + t * cout))
        super().__init__(
            nn.Conv3d(cin, mid, (1, h, w), stride=(1, sh, sw), padding=(0, ph, pw), bias=False),
            nn.BatchNorm3d(mid),
            nn.ReLU(inplace=True),
            nn.Conv3d(mid, cout, (t, 1, 1), stride=(st, 1, 1), padding=(pt, 0, 0), bias=False),
        )


class Block2Plus1d(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = Conv2Plus1d(cin, cout, 3, stride, 1)
        self.bn1 = nn.BatchNorm3d(cout)
        self.conv2 = Conv2Plus1d(cout, cout, 3, 1, 1)
        self.bn2 = nn.BatchNorm3d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(Conv2Plus1d(cin, cout, 1, stride), nn.BatchNorm3d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class R2Plus1D(Backbone):
    def __init__(self, width: float = 1.0, blocks: tuple[int, int, int, int] = (1, 1, 1, 1)) -> None:
        super().__init__()
        c = [scaled(v, width) for v in (64, 128, 256, 512)]
        self.stem = nn.Sequential(Conv2Plus1d(3, c[0], (3, 7, 7), (1, 2, 2), (1, 3, 3)),
                                  nn.BatchNorm3d(c[0]), nn.ReLU(inplace=True))
        stages, cin = [], c[0]
        for i, (cout, n) in enumerate(zip(c, blocks)):
            layer = [Block2Plus1d(cin, cout, 1 if i == 0 else 2)]
            layer += [Block2Plus1d(cout, cout, 1) for _ in range(n - 1)]
            stages.append(nn.Sequential(*layer))
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.feature_dim = c[3]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))


@register("r21d10")
def r21d10(width: float = 1.0, blocks: tuple[int, int, int, int] = (1, 1, 1, 1)) -> R2Plus1D:
    return R2Plus1D(width, blocks)
