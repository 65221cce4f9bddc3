from __future__ import annotations

import numpy as np
from PIL import Image

from vssl_bench.data.datasets import Synthetic
from vssl_bench.data.decode import probe
from vssl_bench.data.preview import contact_sheet
from vssl_bench.data.synthetic import SPEEDS, SyntheticSpec, render_video


def test_layout_is_read_by_the_ucf101_reader(synthetic_root):
    train, test = Synthetic(synthetic_root, subset="train"), Synthetic(synthetic_root, subset="test")
    spec = SyntheticSpec()
    assert train.classes == list(SPEEDS) == ["Crawl", "Walk", "Run", "Sprint"]
    per_class = spec.clips_per_group
    assert (len(train), len(test)) == (4 * (spec.groups - spec.test_groups) * per_class, 4 * spec.test_groups * per_class)
    assert (synthetic_root / "ucfTrainTestlist" / "classInd.txt").read_bytes().endswith(b"\r\n")
    info = probe(train.samples[0][0])
    assert (info.num_frames, info.height, info.width, round(info.fps)) == (spec.num_frames, 40, 50, 25)


def test_rendering_is_deterministic_and_videos_differ():
    spec = SyntheticSpec()
    a, b = render_video(spec, 0, 3, 1), render_video(spec, 0, 3, 1)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, render_video(spec, 0, 3, 2))
    assert not np.array_equal(a, render_video(SyntheticSpec(seed=1), 0, 3, 1))


def _object_track(video: np.ndarray) -> np.ndarray:
    """Per frame, the mean (row, column) of the pixels that differ from the median frame: the object."""
    moving = np.abs(video - np.median(video, axis=0)).sum(-1) > 60
    ys, xs = np.mgrid[0:video.shape[1], 0:video.shape[2]]
    return np.array([(ys[m].mean(), xs[m].mean()) if m.any() else (np.nan, np.nan) for m in moving])


def _speed(video: np.ndarray) -> float:
    """Median displacement per frame, in pixels, over steps where the object does not wrap around."""
    steps = np.linalg.norm(np.diff(_object_track(video.astype(float)), axis=0), axis=1)
    return float(np.nanmedian(steps[steps < 8]))


def test_classes_are_speed_bands_an_octave_apart():
    """The class is the object's speed; each band moves about twice as fast as the one before."""
    spec = SyntheticSpec()
    speeds = [np.median([_speed(render_video(spec, c, g, 1)) for g in range(3, 11)]) for c in range(4)]
    for band, measured in zip(SPEEDS.values(), speeds):  # the centroid of the changed pixels lags a little
        assert 0.6 * band < measured < 1.2 * band, (band, measured)
    assert all(1.6 < b / a < 2.5 for a, b in zip(speeds, speeds[1:])), speeds


def test_appearance_and_direction_are_nuisance_not_class():
    """Colour, shape and direction are drawn per video: the mean colour of a video says nothing about
    its class (videos of one class differ more than class means do), and every class travels in
    several directions."""
    spec = SyntheticSpec()
    videos = [[render_video(spec, c, g, 1) for g in range(3, 11)] for c in range(len(spec.classes))]
    means = np.array([[v.reshape(-1, 3).mean(0) for v in row] for row in videos])  # (class, video, rgb)
    assert means.std(axis=1).mean() > 2 * means.mean(axis=1).std(axis=0).mean()
    for row, band in zip(videos, SPEEDS.values()):
        frames = max(3, int(4 / band))  # about 4 pixels of travel: visible, and too short to wrap around
        moves = set()
        for video in row:
            dy, dx = _object_track(video.astype(float))[frames] - _object_track(video.astype(float))[0]
            moves.add((int(np.sign(dy)) if abs(dy) > 1 else 0, int(np.sign(dx)) if abs(dx) > 1 else 0))
        assert len(moves) >= 2, moves


def test_contact_sheet(synthetic_root, tmp_path):
    png = contact_sheet(synthetic_root, tmp_path / "sheet.png", frames_per_video=4)
    img = Image.open(png)
    assert img.size == (4 * 50, 4 * 40)
