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


def test_weighted_reconstruction_averages_per_sample_then_over_the_batch():
    """PRP's official loss: a rate-1 sample (every other frame left out) weighs as much as a sample
    with all frames real; a global sum/count would weigh it half."""
    pred, target = torch.zeros(2, 1, 4, 1, 1), torch.zeros(2, 1, 4, 1, 1)
    target[0] = 1.0  # squared error 1 on the masked-half sample
    target[1] = 2.0  # squared error 4 on the full sample
    mask = torch.tensor([[1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    assert weighted_reconstruction(pred, target, torch.ones_like(pred), mask).item() == 2.5  # (1 + 4) / 2


def test_motion_attention_is_one_mask_per_16_frame_chunk_scaled_on_its_own():
    """Chunk 1 moves a lot, chunk 2 barely: each still spans [0.8, 2.0], and every frame of a chunk
    gets the same mask."""
    clip = torch.zeros(1, 1, 32, 32, 32)
    for t in range(16):
        clip[:, :, t, 0:8, 2 * t:2 * t + 4] = 1.0  # fast, top rows
        clip[:, :, 16 + t, 24:32, t // 4:t // 4 + 4] = 0.1  # slow and faint, bottom rows
    w = motion_attention(clip)
    for chunk in (w[:, :, :16], w[:, :, 16:]):  # the official +1e-6 lifts a faint chunk's floor a little
        assert torch.isclose(chunk.min(), torch.tensor(0.8), atol=1e-3)
        assert torch.isclose(chunk.max(), torch.tensor(2.0), atol=1e-4)
        assert torch.equal(chunk, chunk[:, :, :1].expand_as(chunk))
    assert w[0, 0, 0, :8].mean() > w[0, 0, 0, 24:].mean() and w[0, 0, 16, 24:].mean() > w[0, 0, 16, :8].mean()
