from __future__ import annotations

import shutil
from pathlib import Path

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


# --- profiles --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def profile_videos(tmp_path_factory) -> dict[str, str]:
    """A colour, moving 96-frame H.264 source (B-frames, one keyframe) transcoded with every profile."""
    from vssl_bench.data.synthetic import SyntheticSpec, render_video, write_video
    from vssl_bench.data.transcode import PROFILES, transcode_video

    root = tmp_path_factory.mktemp("profiles")
    source = root / "source.mp4"
    write_video(source, render_video(SyntheticSpec(num_frames=96, height=48, width=64), 3, 1, 1), gop=96)
    paths = {}
    for name in PROFILES:
        transcode_video(source, root / name / "v.mp4", short_side=32, profile=name)
        paths[name] = str(root / name / "v.mp4")
    return paths


def sequential(path: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every frame of a plain sequential decode: 4:2:0 planes as the decoder gives them, and RGB."""
    import av
    from av.video.reformatter import Interpolation

    with av.open(path) as container:
        frames = list(container.decode(video=0))
        flags = Interpolation.BILINEAR | Interpolation.FULL_CHR_H_INT
        return [f.to_ndarray() for f in frames], [f.to_ndarray(format="rgb24", interpolation=flags) for f in frames]


@pytest.mark.parametrize("profile", ["fastdecode", "intra", "gop16"])
def test_every_profile_reads_exactly_what_a_sequential_decode_gives(profile_videos, profile):
    path = profile_videos[profile]
    planes, rgb = sequential(path)
    info = probe(path)
    assert info.num_frames == len(planes) == 96 and (info.height, info.width) == (32, 42)
    rng = np.random.default_rng(3)
    for _ in range(12):  # strided clips as the samplers draw them, with repeats and out-of-order picks
        stride = int(rng.integers(1, 9))
        start = int(rng.integers(0, 96 - 8 * stride))
        wanted = np.concatenate([start + stride * np.arange(8), rng.integers(0, 96, size=3), [start]])
        yuv = read_frames(path, wanted, pixels="yuv420p").numpy()
        assert all(np.array_equal(yuv[i], planes[j]) for i, j in enumerate(wanted))
        got = read_frames(path, wanted).numpy()
        assert all(np.array_equal(got[i], rgb[j]) for i, j in enumerate(wanted))


def test_profiles_code_what_they_promise(profile_videos):
    import av

    def types(path):
        with av.open(path) as container:
            return "".join("?IPB"[int(f.pict_type)] for f in container.decode(video=0))

    assert set(types(profile_videos["intra"])) == {"I"} and probe(profile_videos["intra"]).keyframes.size == 96
    for name, every in (("fastdecode", 32), ("gop16", 16)):  # exactly: the source's keyframes are not forced
        assert probe(profile_videos[name]).keyframes.tolist() == list(range(0, 96, every))
    assert "B" not in types(profile_videos["gop16"])
    assert types(profile_videos["fastdecode"])[:32] == "I" + "BBBBBBBP" * 3 + "BBBBBBP"  # 7 non-reference B-frames
    # x264 writes its settings into the stream: CAVLC, no deblocking, no B-pyramid, whole-macroblock prediction
    settings = Path(profile_videos["fastdecode"]).read_bytes()
    for setting in (b"cabac=0", b"deblock=0", b"bframes=7", b"b_pyramid=0", b"b_adapt=0", b"analyse=0x3:0 ",
                    b"keyint=32"):
        assert setting in settings, setting


def test_reads_decode_only_what_the_profile_needs(profile_videos, monkeypatch):
    """All-intra: exactly the wanted frames are decoded; the default profile's unwanted B-frames are not."""
    from vssl_bench.data import decode

    decoded = []
    real = decode._decoded

    def counting(*args, **kwargs):
        for frame in real(*args, **kwargs):
            decoded.append(frame.pts)
            yield frame

    monkeypatch.setattr(decode, "_decoded", counting)
    clip = 17 + 4 * np.arange(16)  # frames 17..77 every 4
    counts = {}
    for name in ("intra", "fastdecode", "gop16"):
        decoded.clear()
        read_frames(profile_videos[name], clip, pixels="yuv420p")
        counts[name] = len(decoded)
    assert counts["intra"] == 16 < counts["fastdecode"] <= 40 < counts["gop16"], counts  # 36 and 56 as written
    decoded.clear()
    read_frames(profile_videos["intra"], clip)
    assert sorted(decoded) == probe(profile_videos["intra"]).pts[clip].tolist()


def test_the_command_line_default_profile_is_fastdecode(source_tree, tmp_path, capsys):
    import inspect

    import av

    from vssl_bench.data import commands, transcode

    assert transcode.DEFAULT_PROFILE == "fastdecode" == next(iter(transcode.PROFILES))
    assert inspect.signature(commands.transcode).parameters["profile"].default == "fastdecode"
    src = tmp_path / "one"
    src.mkdir()
    shutil.copy(source_tree / "ClassA" / "v_b.mp4", src / "v_b.mp4")
    main(["data", "transcode", str(src), str(tmp_path / "out"), "--short_side", "48", "--workers", "1"])
    with av.open(str(tmp_path / "out" / "v_b.mp4")) as container:
        kinds = "".join("?IPB"[int(f.pict_type)] for f in container.decode(video=0))
    assert kinds.startswith("IBBBBBBBP") and kinds[32] == "I" and "I" not in kinds[1:32]
    with pytest.raises(SystemExit):
        main(["data", "transcode", str(src), str(tmp_path / "x"), "--profile", "nonsense"])
