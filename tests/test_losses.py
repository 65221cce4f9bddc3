from __future__ import annotations

import math

import torch

from vssl_bench.methods.losses import (
    info_nce,
    margin_ranking,
    motion_attention,
    normalized_l2,
    weighted_reconstruction,
)


def test_info_nce_known_answer():
    q = torch.tensor([[1.0, 0.0]])
    pos = torch.tensor([[1.0, 0.0]])
    neg = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    loss, logits = info_nce(q, pos, neg, temperature=1.0)
    expected = -math.log(math.e / (math.e + 1 + math.exp(-1)))
    assert torch.allclose(logits, torch.tensor([[1.0, 0.0, -1.0]]))
    assert abs(loss.item() - expected) < 1e-6


def test_margin_ranking_known_answer():
    loss = margin_ranking(torch.tensor([3.0, 1.0]), torch.tensor([0.0, 0.5]), margin=2.0)
    assert abs(loss.item() - (0.0 + 1.5) / 2) < 1e-6


def test_normalized_l2_is_two_minus_two_cosine():
    a, b = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 5.0]])
    assert torch.allclose(normalized_l2(a, b), torch.tensor([2.0]))
    assert torch.allclose(normalized_l2(a, a), torch.tensor([0.0]))


def test_motion_attention_weights_moving_regions_within_range():
    clip = torch.zeros(1, 3, 16, 32, 32)
    for t in range(16):
        clip[:, :, t, 8:16, t:t + 8] = 1.0  # a square moving right through the top half
    w = motion_attention(clip)
    assert w.shape == clip.shape
    assert w.min() >= 0.8 - 1e-5 and w.max() <= 2.0 + 1e-5
    assert w[..., :16, :].mean() > w[..., 24:, :].mean()


def test_weighted_reconstruction_ignores_masked_frames():
    pred = torch.zeros(1, 3, 4, 2, 2)
    target = torch.zeros(1, 3, 4, 2, 2)
    target[:, :, 1] = 10.0  # error only on frame 1
    weight = torch.ones_like(pred)
    assert weighted_reconstruction(pred, target, weight, torch.tensor([[1.0, 0.0, 1.0, 1.0]])).item() == 0.0
    assert weighted_reconstruction(pred, target, weight, torch.ones(1, 4)).item() == 25.0
