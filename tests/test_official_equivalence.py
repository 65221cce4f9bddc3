"""Our training steps and samplers against the authors' own code, from reference numbers only.

``tests/fixtures/official/<method>.json`` holds what the official code computed (repository, commit and
files named in the fixture) on cases described there: the seed of the weights (ours, copied into the
official model by the layer table), the recipe, the seed of the raw frames. The numbers were written by
``tests/official/official_reference.py`` from a checkout of the official code; here our side is recomputed
from the same description and compared: every loss term (relative 1e-5), the gradient of every
parameter and the SGD update of every tensor (BatchNorm statistics included; relative 1e-4), and the
samplers' exact outcome probabilities. ASCNet has no official code: its losses are checked against the
paper's equations on small hand-computed cases.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "official"
sys.path.insert(0, str(ROOT / "tests" / "official"))

import official_reference as ref  # noqa: E402

from vssl_bench.data.sampling import restarting_clip  # noqa: E402
from vssl_bench.methods.losses import chunk_motion_masks, motion_keyframes  # noqa: E402
from vssl_bench.methods.prp import DilatedSampler  # noqa: E402


@cache
def fixture(method: str) -> dict:
    return json.loads((FIXTURES / f"{method}.json").read_text())


def assert_same_step(official: dict, ours: dict) -> None:
    if ref.close(official["initial"]["weights"], ours["initial"]["weights"], 1e-6) > 1:
        pytest.fail("our seeded weights are not the ones the fixture was made with (has torch's default "
                    "initialisation changed?): regenerate the fixtures with tests/official/official_reference.py")
    for section, (rtol, atol) in ref.TOLERANCE.items():
        if section not in official:
            continue
        assert set(ours[section]) == set(official[section]), section
        largest = max(abs(v[0] if isinstance(v, list) else v) for v in official[section].values())
        worst = {name: ref.close(value, ours[section][name], rtol, atol * largest)
                 for name, value in official[section].items()}
        name = max(worst, key=worst.get)
        assert worst[name] <= 1, f"{section}/{name}: official {official[section][name]}, ours {ours[section][name]}"


def test_fixtures_name_their_source():
    for path in FIXTURES.glob("*.json"):
        blob = json.loads(path.read_text())
        for source in (blob["source"], blob.get("also_source", blob["source"])):
            assert source["repository"].startswith("https://github.com/") and len(source["commit"]) == 40
            assert source["files"]


# --- PRP -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", range(2), ids=["r3d10", "c3d"])
def test_prp_training_step_equals_the_official_one(case):
    """The official ``PredictDataset`` items (rates 1, 2, 4, 8; a motionless chunk in the rate-2 item),
    ``SSCN_OneClip``, ``Motion_MSEloss_NoFakeGt`` + 0.1 CE and SGD with fc8 at 10x: the same losses,
    motion-attention weights, gradients and update as ours."""
    step = fixture("prp")["steps"][case]
    assert_same_step(step["official"], ref.ours_prp(step["case"]))


def test_prp_sampler_has_the_official_rates_and_starts():
    """Exact probabilities of (rate, first raw frame) for videos of several lengths, the same as the
    official loader's; where the video is shorter than the rate needs (16 s + 1 frames) both ask for
    another video at that rate (``<rate>:other``: the data module's part, tested in test_datamodule.py).
    The official redraws retry without bound, so the fixture's enumeration, which drops paths under
    1e-12, leaves a sliver of ``other`` mass out: compared to 1e-9 there."""
    for n, official in fixture("prp")["sampling"].items():
        ours = ref.ours_prp_sampling(int(n))
        assert any(key.endswith(":other") for key in official) == (int(n) < 129), n
        assert ours.keys() == official.keys(), n
        for key, p in official.items():
            tolerance = {"abs": 1e-9} if key.endswith(":other") else {"rel": 1e-9, "abs": 1e-15}
            assert ours[key] == pytest.approx(p, **tolerance), (n, key)
    assert fixture("prp")["sampling"]["300"]["1:0"] == pytest.approx(2 * fixture("prp")["sampling"]["300"]["1:1"])


@pytest.mark.parametrize("rate", [1, 2, 4, 8])
def test_prp_clips_are_the_official_frames_of_the_raw_span(rate):
    """From the 16 s raw frames the official loader reads: the input is every s-th, the 2x target the
    frames at stride s/2 (input, between, input, ...), and the motion keyframes frames 0/5/10/15 of each
    16-frame chunk."""
    start, n = 7, 400
    raw = start + np.arange(16 * rate)
    inputs, between, *motion = DilatedSampler(16, (1, 2, 4, 8)).clips(start, rate, n)
    assert np.array_equal(inputs, raw[::rate])
    if rate >= 2:
        assert np.array_equal(np.stack([inputs, between], 1).ravel(), raw[::rate // 2])
    keys = np.concatenate(motion)[:4 * rate].reshape(rate, 4)
    assert np.array_equal(keys, raw.reshape(rate, 16)[:, [0, 5, 10, 15]])
    assert motion_keyframes(16) == [0, 5, 10, 15]


def test_motion_masks_follow_the_official_special_cases():
    """A chunk with no motion in any channel weighs 1 everywhere; a still channel beside moving ones
    weighs ``high`` (the official +1e-6 over +1e-6); a moving channel spans [0.8 + 1.2e-6 / range, 2]."""
    g = torch.Generator().manual_seed(0)
    moving = torch.rand(1, 3, 1, 4, 112, 112, generator=g)
    still = moving[:, :, :, :1].expand(1, 3, 1, 4, 112, 112)
    masks = chunk_motion_masks(torch.cat([moving, still], 2))
    assert torch.equal(masks[:, :, 1], torch.ones_like(masks[:, :, 1]))
    half = moving.clone()
    half[:, 1] = half[:, 1, :, :1]
    m = chunk_motion_masks(half)
    assert torch.allclose(m[:, 1], torch.full_like(m[:, 1], 2.0))
    assert 1.9 < m[:, 0].max() <= 2.0 and 0.8 < m[:, 0].min() < 0.9  # upsampled from the pooled grid


# --- Pace ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", range(2), ids=["r3d10", "c3d"])
def test_pace_training_step_equals_the_official_one(case):
    """``train.py``'s model, cross-entropy and SGD (lr 1e-3, momentum 0.9, wd 5e-3) on the same input:
    the same loss, gradients and update as ours (full-width networks, small frames)."""
    step = fixture("pace")["steps"][case]
    assert_same_step(step["official"], ref.ours_pace(step["case"]))


def test_pace_sampler_has_the_official_paces_and_clips():
    """Exact probabilities of (pace, clip indices) for videos shorter and longer than a clip: the same
    support and probabilities as the official ``__getitem__`` + ``loop_load_rgb``."""
    for n, official in fixture("pace")["sampling"].items():
        ours = ref.ours_pace_sampling(int(n))
        assert ours.keys() == official.keys(), n
        for key, p in official.items():
            assert ours[key] == pytest.approx(p, rel=1e-9), (n, key)


def test_pace_clip_restarts_at_the_first_frame():
    """Past the end the official loader goes back to frame 1 (0 here), not on modulo the length."""
    assert restarting_clip(95, 8, 4, 100).tolist() == [95, 99, 0, 4, 8, 12, 16, 20]
    assert restarting_clip(5, 8, 4, 10).tolist() == [5, 9, 0, 4, 8, 0, 4, 8]


# --- RSPNet --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", range(2), ids=["c3d", "r21d10"])
def test_rspnet_training_step_equals_the_official_one(case):
    """``MoCoDiffLossTwoFc`` over ``MultiTaskWrapper`` with ``Loss(margin=2.0)`` and the scaled SGD LR,
    one process, one shuffle group: the same InfoNCE terms (same speed, other speed), margin ranking,
    gradients, SGD update, momentum update of the key encoder (its BatchNorm statistics included) and
    queue (contents and pointer) as ours."""
    step = fixture("rspnet")["steps"][case]
    assert_same_step(step["official"], ref.ours_rspnet(step["case"]))


def test_rspnet_sampler_has_the_official_windows_and_speeds():
    """Exact probabilities of (speed, q, k, k-) for one video, shorter than a window, exactly one, and
    longer: the official ``RandomStrideCrop`` windows (looping a short video) cut at the official speeds.
    The official speed is half of each batch, here a coin per video: the same for any one video."""
    for n, official in fixture("rspnet")["sampling"].items():
        ours = ref.ours_rspnet_sampling(int(n))
        assert ours.keys() == official.keys(), n
        for key, p in official.items():
            assert ours[key] == pytest.approx(p, rel=1e-9), (n, key)


# --- ASCNet (no official code: the paper's equations on hand-computed cases) ----------------------------

def test_ascnet_appearance_loss_is_the_squared_distance_of_normalised_embeddings():
    """ACP: L_a = || a'_j / |a'_j| - a_j / |a_j| ||^2 (BYOL form, 2 - 2 cos)."""
    from vssl_bench.methods.losses import normalized_l2

    pred = torch.tensor([[3.0, 4.0], [1.0, 1.0], [1.0, 0.0]])
    target = torch.tensor([[4.0, -3.0], [2.0, 2.0], [-5.0, 0.0]])
    assert normalized_l2(pred, target).tolist() == pytest.approx([2.0, 0.0, 4.0])


def test_ascnet_speed_consistency_pulls_towards_the_most_similar_same_speed_clip_of_another_video():
    """SCP: for each clip, the bank entry of *another video* at the *same speed* with the most similar
    appearance (top-1 cosine) gives the speed target; L_m = || m'_j - m_j ||^2 on normalised vectors,
    averaged over the clips that found one. Hand-built bank of four entries (appearance | speed):"""
    from vssl_bench.methods import METHODS

    torch.manual_seed(0)
    model = METHODS["ascnet"](backbone="r3d10", backbone_width=0.125, proj_dim=2, hidden_dim=4, bank_size=4)
    model.bank.features.copy_(torch.tensor([
        [1.0, 0.0, 0.0, 1.0],  # speed 0, video 7: same speed, other video, most similar to query 0
        [1.0, 0.0, 1.0, 0.0],  # speed 1, video 8: as similar, but the other speed
        [0.6, 0.8, 1.0, 0.0],  # speed 0, video 9: the best match of query 1
        [1.0, 0.0, -1.0, 0.0],  # speed 0, video 1: query 0's own video
    ]))
    model.bank.tags.copy_(torch.tensor([[0, 7], [1, 8], [0, 9], [0, 1]]))
    t_a = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    pred_m = torch.tensor([[0.0, 2.0], [0.0, 3.0], [5.0, 5.0]])
    speeds, videos = torch.tensor([0, 0, 1]), torch.tensor([1, 2, 8])
    loss, matched = model._speed_consistency(pred_m, t_a, speeds, videos)
    # query 0 -> entry 0: m' = (0, 1) = m, 0; query 1 -> entry 2: |(0, 1) - (1, 0)|^2 = 2; query 2: no
    # speed-1 clip of another video, left out
    assert loss.item() == pytest.approx((0.0 + 2.0) / 2)
    assert matched.item() == pytest.approx(2 / 3)


# --- downstream ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["rspnet", "prp"])
def test_downstream_logits_features_and_recall_equal_the_official_ones(method):
    """From the same weights and clips: the fine-tuned classifier's logits averaged over a video's clips
    (RSPNet's ``finetune.py`` model, PRP's ``test_classify.test``), the retrieval feature of a video
    (RSPNet: global average pool, PRP/VCOP: conv5 max-pooled (1, 2, 2) and flattened; mean over 10
    clips) and R@1..50 of the cosine ranking (RSPNet's and VCOP's ``topk_retrieval``)."""
    blob = fixture(f"{method}_downstream")
    assert_same_step(blob["official"], ref.ours_downstream(blob["case"]))


def test_evaluation_clips_are_the_official_ones():
    """Ten evenly spaced clips: RSPNet's ``EvenNCrop`` rounds the starts, PRP's test clips and VCOP's
    retrieval clips truncate them (``int(i - 8)``); ``EvenClipsSampler(rounding=...)`` does each. The
    two differ by a frame on some clips (3 of 10 at 100 frames)."""
    lengths = ref.EVAL_LENGTHS
    assert ref.ours_eval_starts(lengths, "round") == fixture("rspnet_downstream")["official"]["eval_starts"]
    prp = fixture("prp_downstream")["official"]["eval_starts"]
    assert prp["prp_test"] == ref.ours_eval_starts(lengths, "floor") == prp["vcop_retrieval"]
    assert prp["prp_test"] != ref.ours_eval_starts(lengths, "round")
