from __future__ import annotations

import numpy as np
from PIL import Image

from vssl_bench.data.datasets import Synthetic
from vssl_bench.data.decode import probe
from vssl_bench.data.preview import contact_sheet
from vssl_bench.data.synthetic import MOTIONS, SPEEDS, SyntheticSpec, render_video


def test_layout_is_read_by_the_ucf101_reader(synthetic_root):
    train, test = Synthetic(synthetic_root, subset="train"), Synthetic(synthetic_root, subset="test")
    assert len(train.classes) == len(MOTIONS) * len(SPEEDS) == 8
    assert (len(train), len(test)) == (8 * 6 * 6, 8 * 2 * 6)
    assert (synthetic_root / "ucfTrainTestlist" / "classInd.txt").read_bytes().endswith(b"\r\n")
    info = probe(train.samples[0][0])
    assert (info.num_frames, info.height, info.width, round(info.fps)) == (64, 40, 50, 25)


def test_rendering_is_deterministic_and_videos_differ():
    spec = SyntheticSpec()
    a, b = render_video(spec, 0, 3, 1), render_video(spec, 0, 3, 1)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, render_video(spec, 0, 3, 2))
    assert not np.array_equal(a, render_video(SyntheticSpec(seed=1), 0, 3, 1))


def _centroid_x(video: np.ndarray) -> np.ndarray:
    """Per frame, the mean column of the pixels that differ from the median frame: the object."""
    moving = np.abs(video - np.median(video, axis=0)).sum(-1) > 60
    xs = np.arange(video.shape[2])
    return np.array([xs[m.any(0)].mean() if m.any() else np.nan for m in moving])


def test_classes_are_motion_and_speed_directions_are_opposite_and_fast_is_faster():
    spec = SyntheticSpec()
    name = spec.classes.index
    right_slow, right_fast, left_slow = (render_video(spec, name(c), 3, 1).astype(float)
                                         for c in ("SlideRightSlow", "SlideRightFast", "SlideLeftSlow"))
    for video in (right_slow, right_fast, left_slow):
        assert np.abs(np.diff(video, axis=0)).mean() > 5  # frames change: the object moves
    step = {k: np.nanmedian(np.diff(_centroid_x(v)[:12])) for k, v in
            (("right_slow", right_slow), ("right_fast", right_fast), ("left_slow", left_slow))}
    assert step["right_fast"] > 1.5 * step["right_slow"] > 0 > step["left_slow"]


def test_appearance_is_nuisance_not_class():
    """Shape and colour are drawn per video: every class shows several shapes, and the mean colour of a
    video says nothing about its class (videos of one class differ more than class means do)."""
    spec = SyntheticSpec()
    means = np.array([[render_video(spec, c, g, 1).reshape(-1, 3).mean(0) for g in range(3, 9)]
                      for c in range(len(spec.classes))])  # (class, video, rgb)
    within = means.std(axis=1).mean()
    between = means.mean(axis=1).std(axis=0).mean()
    assert within > 2 * between


def test_contact_sheet(synthetic_root, tmp_path):
    png = contact_sheet(synthetic_root, tmp_path / "sheet.png", frames_per_video=4)
    img = Image.open(png)
    assert img.size == (4 * 50, 8 * 40)
