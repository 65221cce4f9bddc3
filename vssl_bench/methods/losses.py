"""Loss functions shared by the methods. All compute in float32, whatever the autocast dtype."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(query: torch.Tensor, positive: torch.Tensor, negatives: torch.Tensor, temperature: float
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """InfoNCE with one positive per query (label 0) and a shared bank of negatives.

    ``query``, ``positive``: (B, D) L2-normalised; ``negatives``: (K, D). Returns (loss, logits)."""
    q, pos, neg = query.float(), positive.float(), negatives.float()
    logits = torch.cat([(q * pos).sum(1, keepdim=True), q @ neg.T], dim=1) / temperature
    labels = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
    return F.cross_entropy(logits, labels), logits


def margin_ranking(score_pos: torch.Tensor, score_neg: torch.Tensor, margin: float) -> torch.Tensor:
    """mean(max(0, margin - (s+ - s-))): the positive must beat the negative by ``margin``."""
    return F.relu(margin - (score_pos.float() - score_neg.float())).mean()


def normalized_l2(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BYOL's loss: squared distance of the L2-normalised vectors, 2 - 2 cos, per sample (B,)."""
    p = F.normalize(prediction.float(), dim=-1)
    z = F.normalize(target.float(), dim=-1)
    return (p - z).pow(2).sum(-1)


def motion_attention(dense: torch.Tensor, low: float = 0.8, high: float = 2.0) -> torch.Tensor:
    """PRP's motion-attention weights for a target clip ``dense`` (B, C, T, H, W), T a multiple of 16.

    One mask per 16-frame chunk, as the official code builds it: frames 0, 5, 10, 15 of the chunk;
    squared differences of consecutive ones; a 3D average pool (3, H/4, W/4) with stride
    (3, H/16, W/16); min-max scaling to [low, high] per sample, channel and chunk; bilinear
    upsampling to (H, W), the same mask for every frame of the chunk."""
    b, c, t, h, w = dense.shape
    n = t // 16
    chunks = dense.float().view(b, c, n, 16, h, w)[:, :, :, [0, 5, 10, 15]]
    diffs = (chunks[:, :, :, 1:] - chunks[:, :, :, :-1]).pow(2).reshape(b, c, 3 * n, h, w)
    kh, kw = max(1, h // 4), max(1, w // 4)
    pooled = F.avg_pool3d(diffs, (3, kh, kw), stride=(3, max(1, h // 16), max(1, w // 16)))  # (B, C, n, h', w')
    flat = pooled.reshape(b, c, n, -1)
    lo, hi = flat.min(-1, keepdim=True).values, flat.max(-1, keepdim=True).values
    scaled = (low + (high - low) * (flat - lo) / (hi - lo).clamp_min(1e-12)).view(b * c, n, *pooled.shape[3:])
    masks = F.interpolate(scaled, size=(h, w), mode="bilinear", align_corners=False)  # (B*C, n, H, W)
    return masks.view(b, c, n, 1, h, w).expand(b, c, n, 16, h, w).reshape(b, c, t, h, w)


def weighted_reconstruction(prediction: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
                            frame_mask: torch.Tensor) -> torch.Tensor:
    """``weight * (prediction - target)^2`` averaged over each sample's frames where ``frame_mask``
    (B, T) is 1, then over the batch (the official per-sample mean: a rate-1 sample, whose
    in-between frames are left out, weighs as much as any other)."""
    error = weight * (prediction.float() - target.float()).pow(2)
    mask = frame_mask.float()[:, None, :, None, None]
    per_sample = (error * mask).sum(dim=(1, 2, 3, 4))
    count = mask.sum(dim=(1, 2, 3, 4)) * error.shape[1] * error.shape[3] * error.shape[4]
    return (per_sample / count.clamp_min(1)).mean()
