from __future__ import annotations

import numpy as np
import pytest

from vssl_bench.data.sampling import VideoTooShort
from vssl_bench.methods.pace import PaceSampler
from vssl_bench.methods.prp import DilatedSampler
from vssl_bench.methods.rspnet import TwoSpeedSampler


@pytest.mark.parametrize("num_frames", [300, 20])
def test_rspnet_speeds_and_windows(num_frames):
    rng = np.random.default_rng(0)
    for _ in range(50):
        (q, k, k_neg), targets = TwoSpeedSampler(16, 2)(num_frames, rng)
        assert all(len(c) == 16 and c.min() >= 0 and c.max() < num_frames for c in (q, k, k_neg))
        fast = targets["speed"] == 1
        if num_frames >= 32:
            assert set(np.diff(q)) == {2 if fast else 1} and set(np.diff(k)) == {2 if fast else 1}
            assert set(np.diff(k_neg)) == {1 if fast else 2}
        assert k[0] == k_neg[0]  # the speed negative comes from the key's own window



def test_ascnet_reads_only_the_two_clips_it_uses():
    """ASCNet pairs one video at two speeds; the same-speed key RSPNet needs is not even decoded."""
    rng = np.random.default_rng(1)
    for _ in range(20):
        clips, targets = TwoSpeedSampler(16, 2, same_speed_key=False)(300, rng)
        assert len(clips) == 2
        first, other = clips
        fast = targets["speed"] == 1
        assert set(np.diff(first)) == {2 if fast else 1} and set(np.diff(other)) == {1 if fast else 2}

def test_pace_label_is_the_stride_even_when_wrapping():
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(200):
        (clip,), targets = PaceSampler(16, 4)(50, rng)
        pace = int(targets["pace"][0]) + 1
        seen.add(pace)
        # every step is the pace, or a restart at frame 0 past the end (the official loop_load_rgb)
        assert clip.max() < 50 and all(d == pace or nxt == 0 for d, nxt in zip(np.diff(clip), clip[1:]))
    assert seen == {1, 2, 3, 4}


def test_pace_same_context_draws_two_different_paces():
    clips, targets = PaceSampler(16, 4, num_clips=2, distinct=True)(100, np.random.default_rng(2))
    assert len(clips) == 2 and targets["pace"][0] != targets["pace"][1]


def test_prp_reconstruction_targets_are_the_skipped_frames():
    rng = np.random.default_rng(3)
    for _ in range(100):
        clips, targets = DilatedSampler(16, (1, 2, 4, 8))(400, rng)
        inputs, between = clips[:2]  # then the motion keyframes
        s = (1, 2, 4, 8)[targets["rate"]]
        assert set(np.diff(inputs)) == {s}
        if s >= 2:
            assert targets["between_real"] == 1 and np.all(between - inputs == s // 2)
        else:
            assert targets["between_real"] == 0


def test_prp_video_too_short_for_the_rate_asks_for_another_video_at_that_rate():
    """PRP's rate s needs 16 s + 1 frames (the official loader asks for one more than it reads). On a
    100-frame video only rate 8 (129) is too short: the sampler raises before drawing a start, and its
    ``resample`` keeps rate 8 on whatever video it is given next."""
    sampler, rates, asked = DilatedSampler(16, (1, 2, 4, 8)), set(), 0
    for seed in range(200):
        try:
            _, targets = sampler(100, np.random.default_rng(seed))
            rates.add(targets["rate"])
        except VideoTooShort as short:
            asked += 1
            assert (short.needed, short.num_frames, short.wrapped[1]["rate"]) == (129, 100, 3)
            (inputs, between, *_), _ = short.wrapped  # read from frame 0, wrapping, for want of any other
            assert inputs[0] == 0 and inputs.max() < 100 and between.max() < 100
            for n in (129, 300):
                (inputs, *_), again = short.resample(n, np.random.default_rng(seed))
                assert again == {"rate": 3, "between_real": 1} and set(np.diff(inputs)) == {8}
                assert inputs[-1] + 8 <= n - 1  # the whole 128-frame span fits, one frame to spare
            with pytest.raises(VideoTooShort):
                short.resample(128, np.random.default_rng(seed))
    assert rates == {0, 1, 2} and 20 < asked < 80  # rate 8 a quarter of the time


def test_one_evaluation_clip_is_the_centre_clip_as_rspnets_evenncrop():
    """RSPNet validates each fine-tuning epoch on one centre clip ((frames - needed) // 2); that pass
    decides which epoch ``best_test`` keeps. Several clips spread from the first frame to the last."""
    from vssl_bench.data.sampling import even_starts

    assert even_starts(100, 16, 1).tolist() == [42]
    assert even_starts(101, 16, 1).tolist() == [42]
    assert even_starts(10, 16, 1).tolist() == [0]  # shorter than a clip: looped from the start
    assert even_starts(100, 16, 3).tolist() == [0, 42, 84]
