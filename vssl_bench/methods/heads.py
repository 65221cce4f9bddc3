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
def shuffled_forward(encoder: nn.Module, x: torch.Tensor, groups: int = 1,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """MoCo's shuffling BN: run the key encoder on a batch shuffled across ranks, then unshuffle,
    so a key is never normalised with the statistics its own query saw.

    Across ranks the global batch is put in a random order drawn on the host from ``generator``
    (by default one that every rank seeds alike, see :func:`shared_generator`), so every rank knows
    the whole permutation without reading the device; rank ``r`` encodes places ``r*b .. r*b+b-1``
    of it. Each rank sends every other rank only the clips that rank encodes (one all-to-all), and
    the keys go back the same way: a rank receives ``b`` clips, not the ``world x b`` of gathering
    everything.

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
    b = x.shape[0]
    order = torch.randperm(n * b, generator=generator or shared_generator(x.device))
    plan = ExchangePlan(order, dist.get_rank(), n, b)
    clips = _all_to_all(x[plan.send.to(x.device, non_blocking=True)], plan.send_counts, plan.receive_counts)
    out = encoder(clips[plan.in_order.to(x.device, non_blocking=True)])
    keys = _all_to_all(out[plan.arrival.to(x.device, non_blocking=True)], plan.receive_counts, plan.send_counts)
    restored = torch.empty_like(keys)
    restored[plan.send.to(x.device, non_blocking=True)] = keys
    return restored


class ExchangePlan:
    """Who sends which rows to whom, for a permutation ``order`` of a global batch of ``world x b``
    samples (sample ``g`` lives on rank ``g // b`` as row ``g % b``; place ``p`` of the shuffled batch
    is encoded by rank ``p // b``). Host-side integers only.

    - ``send``: this rank's rows in the order it sends them (grouped by destination, each group in the
      order its destination encodes them), ``send_counts`` rows per destination;
    - ``receive_counts``: rows arriving from each source (they arrive grouped by source);
    - ``arrival``: the places (in this rank's shuffled share) the arriving rows hold, and ``in_order``
      the arriving rows put in that share's order.
    """

    def __init__(self, order: torch.Tensor, rank: int, world: int, b: int) -> None:
        mine = order[rank * b:(rank + 1) * b]  # the samples this rank encodes, in the shuffled order
        sources = mine // b
        self.arrival = torch.argsort(sources, stable=True)
        self.in_order = torch.argsort(self.arrival)
        self.receive_counts = torch.bincount(sources, minlength=world).tolist()
        own = order // b == rank
        self.send = order[own] % b
        self.send_counts = torch.bincount(torch.arange(world * b)[own] // b, minlength=world).tolist()


def _all_to_all(rows: torch.Tensor, send_counts: list[int], receive_counts: list[int]) -> torch.Tensor:
    received = rows.new_empty((sum(receive_counts), *rows.shape[1:]))
    dist.all_to_all_single(received, rows.contiguous(), receive_counts, send_counts)
    return received


_SHARED: dict[str, object] = {}


def shared_generator(device: torch.device) -> torch.Generator:
    """A host generator in the same state on every rank of the current process group: seeded from a
    number rank 0 draws and broadcasts once per group (or by :func:`seed_shared_generator`, which every
    rank calls alike at each training epoch's start), then advanced alike by every rank's calls."""
    group = dist.group.WORLD
    if _SHARED.get("group") is not group:
        seed = torch.randint(0, 2**62, (1,), dtype=torch.long).to(device)
        dist.broadcast(seed, src=0)
        _SHARED["group"] = group  # held: a later group is a new object, never this one's reused id
        _SHARED["generator"] = torch.Generator().manual_seed(int(seed.item()))
    generator = _SHARED["generator"]
    assert isinstance(generator, torch.Generator)
    return generator


def seed_shared_generator(seed: int) -> None:
    """Put the shared generator of the current process group in a state given by ``seed`` (the same
    on every rank), without a collective: a resumed epoch permutes as the uninterrupted one did."""
    if dist.is_available() and dist.is_initialized():
        _SHARED["group"] = dist.group.WORLD
        _SHARED["generator"] = torch.Generator().manual_seed(seed)


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
