"""The backbone contract: ``forward(x (B, 3, T, H, W)) -> (B, D)``, ``.feature_dim``, ``return_map``."""

from __future__ import annotations

import torch
from torch import nn

from vssl_bench.errors import ConfigError


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


def check_training_precision(device: torch.device, precision: str | int | None) -> None:
    """Refuse bf16 training on CPU while oneDNN is on.

    PyTorch 2.14.1's oneDNN bf16 ``Conv3d`` weight gradient on CPU reads memory it never wrote when a
    feature map has 2 frames and the kernel 3 (R3D/R(2+1)D's last stage at 16 frames, every narrow
    test network at 8): the gradient holds whatever the heap held before, NaN included, so a run's
    loss turns NaN or not depending on what the process did earlier. Half precision (fp16), float32
    and CUDA are unaffected; with oneDNN off the CPU kernel is right but about 100x slower."""
    bf16 = str(precision or "").startswith("bf16")
    if bf16 and torch.device(device).type == "cpu" and torch.backends.mkldnn.enabled:
        raise ConfigError(
            f"precision={precision!r} on CPU: PyTorch's oneDNN bf16 Conv3d weight gradient returns "
            "uninitialised memory (NaN losses) for 2-frame feature maps. Train in 32-true on CPU "
            "(--trainer.precision 32-true) and use bf16-mixed on a GPU.")
