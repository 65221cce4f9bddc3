from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import read_index

from vssl_bench.cli import main
from vssl_bench.data.decode import probe, read_frames
from vssl_bench.data.transcode import target_size, transcode_tree
from vssl_bench.errors import ConfigError


@pytest.fixture
def source_tree(indexed_videos, tmp_path):
    src = tmp_path / "src"
    (src / "ClassA").mkdir(parents=True)
    (src / "lists").mkdir()
    shutil.copy(indexed_videos["avi250"], src / "ClassA" / "v_a.avi")
    shutil.copy(indexed_videos["mp4250"], src / "ClassA" / "v_b.mp4")
    (src / "ClassA" / "v_broken.avi").write_bytes(b"RIFF not really a video")
    (src / "lists" / "trainlist01.txt").write_bytes(b"ClassA/v_a.avi 1\r\n")
    return src


def test_transcode_keeps_layout_frames_and_order_with_frequent_keyframes(source_tree, tmp_path):
    dst = tmp_path / "dst"
    report = transcode_tree(source_tree, dst, short_side=48, keyframe_interval=8, workers=2, progress=False)
    assert (report.written, report.copied) == (2, 1)
    assert list(report.failed) == [str(source_tree / "ClassA" / "v_broken.avi")]
    assert (dst / "lists" / "trainlist01.txt").read_bytes() == b"ClassA/v_a.avi 1\r\n"
    for name in ("v_a.avi", "v_b.mp4"):
        info = probe(str(dst / "ClassA" / name))
        assert (info.num_frames, info.height, info.width) == (300, 48, 72)
        assert np.all(np.diff(info.keyframes) <= 8)
        # the same frames in the same order: every frame still spells its own index
        picks = [0, 7, 8, 150, 299]
        frames = read_frames(str(dst / "ClassA" / name), picks, size=(64, 96)).numpy()
        assert [read_index(f) for f in frames] == picks
    assert not list(dst.rglob(".*partial*"))  # no temporary files left behind


def test_transcode_resumes_and_reports(source_tree, tmp_path, capsys):
    dst = tmp_path / "dst"
    transcode_tree(source_tree, dst, short_side=48, workers=1, progress=False)
    (dst / "ClassA" / "v_b.mp4").write_bytes(b"truncated")  # a run killed mid-write of an output
    again = transcode_tree(source_tree, dst, short_side=48, workers=1, progress=False)
    assert (again.written, again.kept, again.copied) == (1, 1, 0)
    with pytest.raises(SystemExit) as exit_info:  # the command line: positional SRC DST, non-zero on failures
        main(["data", "transcode", str(source_tree), str(dst), "--short_side", "48", "--workers", "1"])
    assert exit_info.value.code == 1
    assert "already done 2" in capsys.readouterr().out


def test_transcode_rejects_bad_arguments(source_tree, tmp_path):
    with pytest.raises(ConfigError, match="outside the source"):
        transcode_tree(source_tree, source_tree / "out")
    with pytest.raises(ConfigError, match="short_side=8"):
        transcode_tree(source_tree, tmp_path / "x", short_side=8)
    assert target_size(320, 240, 128) == (170, 128)


@pytest.mark.parametrize("fast_decode", [True, False])
def test_h264_outputs_are_made_cheap_to_decode_by_default_and_stay_exact(indexed_videos, tmp_path, fast_decode):
    """The default profile's H.264 carries x264's fastdecode settings (CAVLC, no deblocking: x264 writes
    them into the stream), and a sparse read of it equals a full sequential decode, as on every profile."""
    import av

    src = tmp_path / "src" / "ClassA"
    src.mkdir(parents=True)
    shutil.copy(indexed_videos["mp4250"], src / "v_b.mp4")
    dst = tmp_path / "dst"
    transcode_tree(src.parent, dst, short_side=48, keyframe_interval=8, workers=1, progress=False,
                   fast_decode=fast_decode)
    out = dst / "ClassA" / "v_b.mp4"
    settings = out.read_bytes()
    assert (b"cabac=0" in settings and b"deblock=0" in settings) == fast_decode
    with av.open(str(out)) as container:
        sequential = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    picks = [3, 9, 17, 18, 150, 298, 299]
    sparse = read_frames(str(out), picks).numpy()
    assert all(np.array_equal(sparse[k], sequential[i]) for k, i in enumerate(picks))
