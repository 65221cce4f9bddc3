from __future__ import annotations

import av
import numpy as np
import pytest
import torch
from av.video.reformatter import Interpolation
from conftest import index_frames, read_index
from quirky_videos import decoded_timestamps, pack_bframes, write_mpeg4_avi

from vssl_bench.data.decode import probe, read_frames
from vssl_bench.data.synthetic import write_video
from vssl_bench.data.transforms import yuv420_to_rgb
from vssl_bench.errors import VideoDecodeError


def sequential_indices(path: str) -> list[int]:
    with av.open(path) as container:
        return [read_index(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]


@pytest.mark.parametrize("name", ["avi12", "avi250", "mp412", "mp4250"])
def test_encoded_index_survives_coding(indexed_videos, name):
    assert sequential_indices(indexed_videos[name]) == list(range(300))
    assert probe(indexed_videos[name]).num_frames == 300


@pytest.mark.parametrize("name", ["avi12", "avi250", "mp412", "mp4250"])
def test_read_frames_is_exact_for_random_strided_clips(indexed_videos, name):
    rng = np.random.default_rng(0)
    for _ in range(40):
        stride = int(rng.integers(1, 9))
        start = int(rng.integers(0, 300 - 16 * stride))
        clip = start + stride * np.arange(16)
        extra = rng.integers(0, 300, size=4)  # out-of-order picks and repeats in the same request
        wanted = np.concatenate([clip, extra, clip[:3]])
        frames = read_frames(indexed_videos[name], wanted)
        assert [read_index(f) for f in frames.numpy()] == wanted.tolist()


def test_read_frames_order_repeats_and_dtype(indexed_videos):
    frames = read_frames(indexed_videos["mp412"], [299, 0, 150, 150, 0])
    assert frames.dtype == torch.uint8
    assert frames.shape == (5, 64, 96, 3)
    assert [read_index(f) for f in frames.numpy()] == [299, 0, 150, 150, 0]


def test_resize_short_side_and_exact_size(indexed_videos):
    short = read_frames(indexed_videos["avi12"], [5], size=32)
    assert short.shape == (1, 32, 48, 3)
    exact = read_frames(indexed_videos["avi12"], [5, 6], size=(40, 60))
    assert exact.shape == (2, 40, 60, 3)
    assert [read_index(f) for f in exact.numpy()] == [5, 6]


def test_out_of_range_index_is_a_clear_error(indexed_videos):
    with pytest.raises(ValueError, match=r"\[0, 300\)"):
        read_frames(indexed_videos["avi12"], [0, 300])


def test_missing_corrupt_and_empty_files_raise_typed_errors(tmp_path):
    with pytest.raises(VideoDecodeError, match="not found"):
        read_frames(str(tmp_path / "nope.avi"), [0])
    garbage = tmp_path / "garbage.avi"
    garbage.write_bytes(b"this is not a video" * 100)
    with pytest.raises(VideoDecodeError, match="garbage.avi"):
        read_frames(str(garbage), [0])
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoDecodeError, match="empty.mp4"):
        probe(str(empty))


def test_truncated_video_reads_its_head_and_fails_clearly_past_it(tmp_path):
    path = tmp_path / "cut.avi"
    write_video(path, index_frames(200), gop=12)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    info = probe(str(path))
    assert 0 < info.num_frames < 200
    head = read_frames(str(path), [0, 1, 2])
    assert [read_index(f) for f in head.numpy()] == [0, 1, 2]


@pytest.fixture(scope="module")
def mpeg4_avis(tmp_path_factory) -> dict[str, str]:
    """MPEG-4 part 2 AVIs of the UCF101/HMDB51 kinds: no B-frames, ordinary B-frames (1 and 2 in a row),
    and DivX packed B-frames (1 and 2 in a row), 150 frames, a keyframe every 12 or 100 frames."""
    root = tmp_path_factory.mktemp("mpeg4")
    frames = index_frames(150)
    paths = {}
    for gop in (12, 100):
        for bframes in (0, 1, 2):
            plain = write_mpeg4_avi(root / f"b{bframes}_gop{gop}.avi", frames, gop=gop, bframes=bframes)
            paths[f"b{bframes}_gop{gop}"] = plain
            if bframes:
                paths[f"packed{bframes}_gop{gop}"] = pack_bframes(plain, root / f"packed{bframes}_gop{gop}.avi")
    return paths


def test_packed_test_files_are_really_packed(mpeg4_avis):
    """The imitation has the real files' symptom: decoded frames' timestamps are not in display order."""
    for name, path in mpeg4_avis.items():
        stamps = decoded_timestamps(path)
        assert (np.diff(stamps) < 0).any() == name.startswith("packed"), name
        assert probe(path).packed_bframes == name.startswith("packed"), name


@pytest.mark.parametrize("name", ["b0_gop12", "b1_gop12", "b2_gop100", "packed1_gop12", "packed1_gop100",
                                  "packed2_gop12", "packed2_gop100"])
def test_mpeg4_avi_reads_equal_a_sequential_decode(mpeg4_avis, name):
    path = mpeg4_avis[name]
    sequential = sequential_indices(path)
    assert sequential == list(range(150))  # the encoder and the packing keep every frame
    assert probe(path).num_frames == len(sequential)
    rng = np.random.default_rng(1)
    for _ in range(30):
        stride = int(rng.integers(1, 6))
        start = int(rng.integers(0, 150 - 16 * stride))
        wanted = np.concatenate([start + stride * np.arange(16), rng.integers(0, 150, size=3)])
        frames = read_frames(path, wanted)
        assert [read_index(f) for f in frames.numpy()] == [sequential[i] for i in wanted]
        # the loader's default: the same frames, shipped as 4:2:0 planes and converted where the batch is
        converted = yuv420_to_rgb(read_frames(path, wanted, pixels="yuv420p"), frames.shape[1:3])
        assert [read_index(f) for f in converted.numpy()] == [sequential[i] for i in wanted]


@pytest.mark.parametrize("name", ["mp412", "mp4250"])
def test_h264_fixtures_hold_non_reference_frames(indexed_videos, name):
    """Reads of timestamp-named streams skip the non-reference frames nobody asked for; the exactness
    tests above exercise that only if the files have such frames (x264's B-frames that are not
    references), so check that they do."""
    with av.open(indexed_videos[name]) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONREF"
        kept = sum(1 for _ in container.decode(stream))
    assert kept < 300


@pytest.mark.parametrize("name", ["avi12", "mp412", "mp4250"])
def test_decoder_threads_give_the_same_frames(indexed_videos, name):
    rng = np.random.default_rng(2)
    for _ in range(10):
        wanted = np.sort(rng.choice(300, size=20, replace=False))
        one = read_frames(indexed_videos[name], wanted, threads=1)
        two = read_frames(indexed_videos[name], wanted, threads=2)
        assert torch.equal(one, two)
        assert [read_index(f) for f in two.numpy()] == wanted.tolist()


@pytest.mark.parametrize("size", [None, 32, (40, 60), (48, 72), (37, 51)])
def test_frames_equal_ffmpeg_bilinear_rgb_conversion(tmp_path, size):
    """Our conversion path (single-threaded swscale, resizing through planar RGB) gives the same
    pixels as FFmpeg's direct YUV -> rgb24 conversion, bilinear with full-resolution chroma, on
    colour content (any size, odd or even width)."""
    from vssl_bench.data.decode import output_size
    from vssl_bench.data.synthetic import SyntheticSpec, render_video

    path = tmp_path / "colour.mp4"
    write_video(path, render_video(SyntheticSpec(num_frames=24, height=48, width=64), 3, 1, 1), gop=8)
    h, w = output_size(64, 48, size)
    with av.open(str(path)) as container:
        flags = Interpolation.BILINEAR | Interpolation.FULL_CHR_H_INT
        expected = np.stack([f.to_ndarray(format="rgb24", width=w, height=h, interpolation=flags)
                             for f in container.decode(video=0)])
    wanted = [0, 3, 9, 10, 17, 23, 3]
    assert np.array_equal(read_frames(path, wanted, size=size).numpy(), expected[wanted])


def test_yuv420_planes_convert_on_the_device_side_as_the_loader_would(tmp_path):
    """``pixels="yuv420p"`` ships the decoder's planes; ``yuv420_to_rgb`` converts and resizes them (on any
    device) to what ``read_frames`` returns in RGB at the recipes' kind of size, to within one level."""
    from vssl_bench.data.synthetic import SyntheticSpec, render_video

    path = tmp_path / "colour.mp4"
    write_video(path, render_video(SyntheticSpec(num_frames=12, height=32, width=42), 3, 1, 1), gop=4)
    wanted = [0, 5, 11, 5]
    planes = read_frames(path, wanted, pixels="yuv420p")
    assert planes.shape == (4, 48, 42) and planes.dtype == torch.uint8
    for size in [(32, 43), (32, 44)]:  # the short side kept, as 128x170 -> 128x171 (not the stored size:
        # there swscale's unscaled conversion repeats chroma samples instead of interpolating them)
        rgb = read_frames(path, wanted, size=size).int()
        converted = yuv420_to_rgb(planes, size).int()
        assert converted.shape == rgb.shape
        assert (converted - rgb).abs().max() <= 1
    assert yuv420_to_rgb(planes.view(2, 2, 48, 42), (32, 43)).shape == (2, 2, 32, 43, 3)  # any leading axes
    with pytest.raises(ValueError, match="stored"):
        read_frames(path, [0], size=(16, 21), pixels="yuv420p")
    with pytest.raises(ValueError, match="rgb24"):
        read_frames(path, [0], pixels="bgr")
