from __future__ import annotations

import numpy as np
from PIL import Image

from vssl_bench.data.datasets import Synthetic
from vssl_bench.data.decode import probe
from vssl_bench.data.synthetic import MOTIONS, SHAPES, SyntheticSpec, contact_sheet, render_video


def test_layout_is_read_by_the_ucf101_reader(synthetic_root):
    train, test = Synthetic(synthetic_root, subset="train"), Synthetic(synthetic_root, subset="test")
    assert len(train.classes) == len(SHAPES) * len(MOTIONS) == 12
    assert (len(train), len(test)) == (12 * 6 * 6, 12 * 2 * 6)
    assert (synthetic_root / "ucfTrainTestlist" / "classInd.txt").read_bytes().endswith(b"\r\n")
    info = probe(train.samples[0][0])
    assert (info.num_frames, info.height, info.width, round(info.fps)) == (80, 48, 60, 25)


def test_rendering_is_deterministic_and_videos_differ():
    spec = SyntheticSpec()
    a, b = render_video(spec, 0, 3, 1), render_video(spec, 0, 3, 1)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, render_video(spec, 0, 3, 2))
    assert not np.array_equal(a, render_video(SyntheticSpec(seed=1), 0, 3, 1))


def test_motion_classes_move_and_directions_are_opposite():
    spec = SyntheticSpec()
    right, left = render_video(spec, 0, 3, 1).astype(float), render_video(spec, 1, 3, 1).astype(float)
    for video in (right, left):
        assert np.abs(np.diff(video, axis=0)).mean() > 5  # frames change: the object moves

    def centroid_x(video):  # of the pixels that differ from the median frame, i.e. the object
        moving = np.abs(video - np.median(video, axis=0)).sum(-1) > 60
        xs = np.arange(video.shape[2])
        return np.array([xs[m.any(0)].mean() if m.any() else np.nan for m in moving])

    dr, dl = np.nanmedian(np.diff(centroid_x(right)[:20])), np.nanmedian(np.diff(centroid_x(left)[:20]))
    assert dr > 0 > dl


def test_contact_sheet(synthetic_root, tmp_path):
    png = contact_sheet(synthetic_root, tmp_path / "sheet.png", frames_per_video=4)
    img = Image.open(png)
    assert img.size == (4 * 60, 12 * 48)
