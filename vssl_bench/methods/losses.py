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


def motion_keyframes(clip_len: int) -> list[int]:
    """Positions of the four frames PRP's motion attention compares inside a chunk of ``clip_len``
    consecutive frames: 0, 5, 10, 15 for the official 16 (spread evenly for other lengths)."""
    return [round(k * (clip_len - 1) / 3) for k in range(4)]


def chunk_motion_masks(keyframes: torch.Tensor, low: float = 0.8, high: float = 2.0, eps: float = 1e-6
                       ) -> torch.Tensor:
    """PRP's motion-attention mask of each chunk, as the official ``getPatchLossMask_DPAU``.

    ``keyframes`` (B, C, N, 4, H, W): the four compared frames of N chunks of consecutive raw frames.
    Squared differences of consecutive keyframes, a 3D average pool (3, H/4, W/4) with stride
    (3, H/16, W/16) (the official (3, 28, 28) / (3, 7, 7) at 112), min-max scaled per sample, channel
    and chunk as ``low + (high - low) (x - min + eps) / (max - min + eps)``, bilinearly upsampled to
    (H, W). A chunk with no motion in any channel weighs 1 everywhere (the official special case; a
    still channel beside moving ones gets ``high``, as there). Returns (B, C, N, H, W)."""
    b, c, n, _, h, w = keyframes.shape
    k = keyframes.float()
    diffs = (k[:, :, :, 1:] - k[:, :, :, :-1]).pow(2).reshape(b, c, 3 * n, h, w)
    kh, kw = max(1, h // 4), max(1, w // 4)
    pooled = F.avg_pool3d(diffs, (3, kh, kw), stride=(3, max(1, h // 16), max(1, w // 16)))  # (B, C, N, h', w')
    flat = pooled.reshape(b, c, n, -1)
    lo, hi = flat.min(-1, keepdim=True).values, flat.max(-1, keepdim=True).values
    scaled = low + (high - low) * (flat - lo + eps) / (hi - lo + eps)
    still = (hi - lo).amax(dim=1, keepdim=True) <= 0  # (B, 1, N, 1): no channel varies
    scaled = torch.where(still, torch.ones_like(scaled), scaled)
    masks = F.interpolate(scaled.view(b * c, n, *pooled.shape[3:]), size=(h, w), mode="bilinear",
                          align_corners=False)
    return masks.view(b, c, n, h, w)


def motion_attention(dense: torch.Tensor, low: float = 0.8, high: float = 2.0) -> torch.Tensor:
    """PRP's motion-attention weights for ``dense`` (B, C, T, H, W) consecutive raw frames, T a multiple
    of 16: one mask per 16-frame chunk (:func:`chunk_motion_masks` on its frames 0, 5, 10, 15), the
    same for every frame of the chunk."""
    b, c, t, h, w = dense.shape
    n = t // 16
    masks = chunk_motion_masks(dense.view(b, c, n, 16, h, w)[:, :, :, motion_keyframes(16)], low, high)
    return masks[:, :, :, None].expand(b, c, n, 16, h, w).reshape(b, c, t, h, w)


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
