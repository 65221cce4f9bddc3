"""Evaluation under DDP: rows gathered from every rank, each video counted once."""

from __future__ import annotations

import torch


def first_occurrence(index: torch.Tensor) -> torch.Tensor:
    """Mask keeping one row per distinct video index: DDP's sampler pads the last batches with
    repeated videos, and every test video must count once."""
    order = torch.argsort(index, stable=True)
    first = torch.ones_like(index, dtype=torch.bool)
    first[order[1:]] = index[order[1:]] != index[order[:-1]]
    return first
