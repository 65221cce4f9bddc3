"""The probe table a dataset keeps: the same answers as ``probe``, a few numbers per video, probed once."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import av
import numpy as np
import pytest
from quirky_videos import pack_bframes, write_mpeg4_avi

from vssl_bench.data import decode, probe_table
from vssl_bench.data.datamodule import ClipDataset
from vssl_bench.data.datasets import Synthetic, VideoIndex
from vssl_bench.data.decode import probe, read_frames
from vssl_bench.data.probe_table import ProbeTable
from vssl_bench.data.sampling import RandomClipSampler
from vssl_bench.errors import VideoDecodeError


def _variable_rate_mp4(path, n: int = 40) -> str:
    """H.264 whose frame durations change (a phone video's timestamps): no progression to store."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        pts = np.cumsum(rng.integers(20, 60, n))
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 5, np.uint8), format="rgb24")
            frame.pts, frame.time_base = int(pts[i]), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return str(path)


@pytest.fixture(scope="module")
def kinds(indexed_videos, tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("probe_table")
    frames = np.random.default_rng(1).integers(0, 255, (30, 48, 64, 3), dtype=np.uint8)
    plain = write_mpeg4_avi(root / "b.avi", frames, bframes=1)
    packed = pack_bframes(plain, root / "packed.avi", ending="dx50")
    return [*indexed_videos.values(), packed, _variable_rate_mp4(root / "vfr.mp4")]


def _same(a: decode.VideoInfo, b: decode.VideoInfo) -> None:
    for field in dataclasses.fields(decode.VideoInfo):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            assert x is not None and y is not None and np.array_equal(x, y), field.name
        else:
            assert x == y, field.name


def test_the_table_answers_as_probe_for_every_kind_of_file(kinds):
    """H.264 with B-frames and short/long GOPs, MPEG-4 AVIs named by position (packed B-frames too),
    and a variable frame rate (the pooled path)."""
    table = ProbeTable(kinds)
    for row, path in enumerate(kinds):
        _same(table.info(row), probe(path))
    constant_rate = range(len(kinds) - 2)  # their timestamps (and the AVIs' fixed GOPs): three numbers each
    assert all(table.times.offset[row] == -1 for row in constant_rate)
    assert all(table.keyframes.offset[row] == -1 for row in constant_rate if kinds[row].endswith(".avi"))
    assert table.times.offset[len(kinds) - 1] >= 0  # the variable-rate timestamps are kept whole


def test_a_constant_rate_video_costs_a_few_numbers(synthetic_root):
    index = Synthetic(synthetic_root)
    table = index.probes()
    assert len(table) == len(index) and not table.errors
    assert table.nbytes / len(table) < 160  # bytes per video, whatever its length


def test_a_failed_probe_is_kept_and_raised_again(tmp_path, indexed_videos):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 500)
    table = ProbeTable([str(broken), indexed_videos["mp4250"]])
    with pytest.raises(VideoDecodeError, match="broken.mp4"):
        table.info(0)
    assert table.info(1).num_frames == 300


def test_reading_with_the_tables_probe_gives_the_same_frames(kinds):
    table = ProbeTable(kinds)
    for row, path in enumerate(kinds):
        wanted = [0, 7, 3, table.info(row).num_frames - 1]
        assert np.array_equal(read_frames(path, wanted, 32, info=table.info(row)), read_frames(path, wanted, 32))


def test_loading_samples_never_probes_again(synthetic_root, monkeypatch):
    """With more videos than the per-process cache holds (Kinetics: ~240k), the dataset still demuxes
    each file once, when it is made: loading any sample, repeatedly, probes nothing."""
    monkeypatch.setattr(decode, "_PROBE_CACHE_SIZE", 0)
    decode._PROBE_CACHE.clear()
    probed: list[str] = []
    for name in ("_probe_by_position", "_probe_by_timestamp"):
        original = getattr(decode, name)

        def counting(container, stream, path, *args, _original=original):
            probed.append(path)
            return _original(container, stream, path, *args)

        monkeypatch.setattr(decode, name, counting)
    index = VideoIndex(Synthetic(synthetic_root).samples[:6], ["a"])
    dataset = ClipDataset(index, RandomClipSampler(8), (32, 40), replace_failed=True, repeat=2)
    after_making = len(probed)
    assert after_making >= 6 and set(probed) == {path for path, _ in index.samples}
    for _ in range(2):
        for i in range(len(dataset)):
            assert dataset[i]["valid"]
    assert len(probed) == after_making


def test_repeat_passes_read_the_same_videos_with_one_probe_each(synthetic_root):
    index = VideoIndex(Synthetic(synthetic_root).samples[:5], ["a"])
    dataset = ClipDataset(index, RandomClipSampler(8), (32, 40), replace_failed=False, repeat=3)
    assert len(dataset) == 15 and len(dataset.probes) == 5
    same = [dataset.load(i, np.random.default_rng(0))["video"] for i in (1, 6, 11)]
    assert all(np.array_equal(same[0], other) for other in same[1:])


def test_a_large_index_is_probed_in_parallel_with_the_same_answers(kinds, monkeypatch):
    monkeypatch.setattr(probe_table, "SERIAL_LIMIT", 0)
    parallel, serial = ProbeTable(kinds, workers=2), ProbeTable(kinds)
    for row in range(len(kinds)):
        _same(parallel.info(row), serial.info(row))
