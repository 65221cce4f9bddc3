"""Projection heads, momentum (EMA) encoders and a DDP-aware feature queue."""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


class LinearHead(nn.Module):
    """Linear(in, out) on pooled features, optionally L2-normalised (RSPNet's 128-d heads)."""

    def __init__(self, dim_in: int, dim_out: int, normalize: bool = True) -> None:
        super().__init__()
        self.fc = nn.Linear(dim_in, dim_out)
        self.normalize = normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(x)
        return F.normalize(x, dim=1) if self.normalize else x


class MLPHead(nn.Module):
    """Linear -> BN -> ReLU -> Linear: BYOL's projector and predictor."""

    def __init__(self, dim_in: int, hidden: int, dim_out: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, dim_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def momentum_copy(module: nn.Module) -> nn.Module:
    """A frozen copy that follows ``module`` by exponential moving average."""
    target = copy.deepcopy(module)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


@torch.no_grad()
@torch.no_grad()
def ema_update(pairs: Iterable[tuple[nn.Module, nn.Module]], momentum: float) -> None:
    """``target = momentum * target + (1 - momentum) * online`` for every (target, online) pair of
    modules, in two fused multi-tensor kernels rather than two per parameter. Parameters only, as MoCo's
    and BYOL's code: the targets' BatchNorm runs in training mode on its own batches and keeps its own
    running statistics."""
    targets: list[torch.Tensor] = []
    onlines: list[torch.Tensor] = []
    for target, online in pairs:
        targets += list(target.parameters())
        onlines += [p.detach() for p in online.parameters()]
    torch._foreach_mul_(targets, momentum)
    torch._foreach_add_(targets, onlines, alpha=1 - momentum)


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


@torch.no_grad()
def gather_all(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every rank (rank order); ``x`` itself when not distributed."""
    if world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


@torch.no_grad()
def shuffled_forward(encoder: nn.Module, x: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """MoCo's shuffling BN: run the key encoder on a batch shuffled across ranks, then unshuffle,
    so a key is never normalised with the statistics its own query saw.

    On one process there are no other ranks to shuffle with, so it is emulated as single-GPU MoCo
    ports do: the batch is shuffled and split into ``groups`` parts (at most half the batch, so each has
    two samples or more), each run (and BatchNorm-normalised) on its own, then put back in order.
    ``groups=1`` is a plain forward."""
    n = world_size()
    if n == 1:
        groups = min(groups, x.shape[0] // 2)  # BatchNorm needs two samples per group
        if groups <= 1:
            return encoder(x)
        order = torch.randperm(x.shape[0], device=x.device)
        parts = [encoder(x[part]) for part in torch.tensor_split(order, groups)]
        restored = parts[0].new_empty((x.shape[0], *parts[0].shape[1:]))
        restored[order] = torch.cat(parts)
        return restored
    everything = gather_all(x)
    order = torch.randperm(everything.shape[0], device=x.device)
    dist.broadcast(order, src=0)
    rank, b = dist.get_rank(), x.shape[0]
    out = encoder(everything[order[rank * b:(rank + 1) * b]])
    gathered = gather_all(out)
    restored = torch.empty_like(gathered)
    restored[order] = gathered
    return restored[rank * b:(rank + 1) * b]


class FeatureQueue(nn.Module):
    """A ring buffer of the most recent keys from *all* ranks (MoCo's queue), with optional tags."""

    def __init__(self, size: int, dim: int, tags: int = 0) -> None:
        super().__init__()
        self.register_buffer("features", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("tags", torch.full((size, max(tags, 1)), -1, dtype=torch.long))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor, tags: torch.Tensor | None = None) -> None:
        keys = gather_all(keys.detach().to(self.features.dtype))
        if tags is not None:
            tags = gather_all(tags.view(keys.shape[0] // world_size(), -1).long())
        size = self.features.shape[0]
        keys, tags = keys[-size:], None if tags is None else tags[-size:]
        slots = (self.pointer + torch.arange(keys.shape[0], device=keys.device)) % size
        self.features[slots] = keys
        if tags is not None:
            self.tags[slots] = tags
        self.pointer.copy_((self.pointer + keys.shape[0]) % size)
        self.filled.copy_(torch.clamp(self.filled + keys.shape[0], max=size))
