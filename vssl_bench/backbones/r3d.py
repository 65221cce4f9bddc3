"""3D ResNets: VCOP's R3D (``r3d10``) and Kensho Hara's 3D ResNet-18 (``r3d18``, RSPNet's "ResNet-18").

``r3d10`` (Pace, PRP): stem 3x7x7 conv stride (1,2,2) + BN + ReLU, no max-pool; four stages of one
basic block each (64-128-256-512); stages 3-5 halve T, H and W in their first conv, with a 1x1x1
stride-2 conv + BN shortcut. Convolutions have no bias. 14,361,792 parameters. ``blocks=(2,2,2,2)``
gives VCOP's deeper variant.

``r3d18`` (RSPNet): stem 7x7x7 conv stride (1,2,2) + BN + ReLU, then a 3x3x3 max-pool with stride 2
in T too; four stages of two basic blocks; shortcut type B (1x1x1 conv + BN where the shape changes).
33,203,904 parameters. This is not torchvision's ``r3d_18`` (whose stem is 3x7x7 and has no pool).
"""

from __future__ import annotations

import torch
from torch import nn

from vssl_bench.backbones.base import Backbone, conv_bn_relu
from vssl_bench.backbones.registry import register, scaled


class BasicBlock3d(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, conv: type[nn.Module] | None = None) -> None:
        super().__init__()
        make = conv or _conv3x3
        self.conv1 = make(cin, cout, stride)
        self.bn1 = nn.BatchNorm3d(cout)
        self.conv2 = make(cout, cout, 1)
        self.bn2 = nn.BatchNorm3d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv3d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm3d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.shortcut is None else self.shortcut(x)
        return self.relu(out + identity)


def _conv3x3(cin: int, cout: int, stride: int) -> nn.Module:
    return nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False)


def residual_stages(channels: list[int], blocks: tuple[int, ...], conv=None) -> nn.Sequential:
    stages = []
    cin = channels[0]
    for i, (cout, n) in enumerate(zip(channels, blocks)):
        layer = [BasicBlock3d(cin, cout, 1 if i == 0 else 2, conv)]
        layer += [BasicBlock3d(cout, cout, 1, conv) for _ in range(n - 1)]
        stages.append(nn.Sequential(*layer))
        cin = cout
    return nn.Sequential(*stages)


class R3D(Backbone):
    """VCOP-style R3D: no max-pool, one block per stage by default."""

    def __init__(self, width: float = 1.0, blocks: tuple[int, int, int, int] = (1, 1, 1, 1)) -> None:
        super().__init__()
        c = [scaled(v, width) for v in (64, 128, 256, 512)]
        self.stem = conv_bn_relu(3, c[0], (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3))
        self.stages = residual_stages(c, blocks)
        self.feature_dim = c[3]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))


class HaraResNet3d(Backbone):
    """Hara et al.'s 3D ResNet (shortcut B): 7x7x7 stem and a spatio-temporal max-pool."""

    def __init__(self, width: float = 1.0, blocks: tuple[int, int, int, int] = (2, 2, 2, 2)) -> None:
        super().__init__()
        c = [scaled(v, width) for v in (64, 128, 256, 512)]
        self.stem = nn.Sequential(
            conv_bn_relu(3, c[0], 7, stride=(1, 2, 2), padding=3),
            nn.MaxPool3d(3, stride=2, padding=1),
        )
        self.stages = residual_stages(c, blocks)
        self.feature_dim = c[3]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))


@register("r3d10")
def r3d10(width: float = 1.0, blocks: tuple[int, int, int, int] = (1, 1, 1, 1)) -> R3D:
    return R3D(width, blocks)


@register("r3d18")
def r3d18(width: float = 1.0, blocks: tuple[int, int, int, int] = (2, 2, 2, 2)) -> HaraResNet3d:
    return HaraResNet3d(width, blocks)
