"""One frame count, the decoder's: probe, `read_frames`, `data check` and the evaluation samplers agree
with the number of frames FFmpeg's decoder outputs, on test files that imitate each real quirk.

Each fixture says which real file kind it imitates (see ``quirky_videos.py`` for how it is built):

- ``xvid_packed``: a UCF101 XviD AVI with packed B-frames whose last packet is a packed pair; the
  decoder never outputs the held-back B-VOP, so the stream holds one coded VOP more than the decoder's
  count, and the header agrees with the decoder (real file: header 164, decoder 164, VOPs 165);
- ``dx50_packed_560x240`` / ``dx50_packed_432x240``: HMDB51's DivX 5 AVIs (packed, odd frame widths)
  whose header counts one frame more than the decoder outputs (real files: header 73, decoder 72);
- ``ucf101_2997fps``: an original UCF101 AVI at 30000/1001 frames per second;
- ``kinetics_mkv``: an H.264 mkv whose container states no frame count;
- ``mpeg4_in_fragmented_mp4``: UCF101 re-encoded as MPEG-4 part 2 in a (fragmented) mp4 that states no
  frame count either.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import index_frames, read_index
from quirky_videos import pack_bframes, write_mpeg4_avi

from vssl_bench.data.check import check_video
from vssl_bench.data.datamodule import ClipDataset
from vssl_bench.data.datasets import VideoIndex
from vssl_bench.data.decode import count_decoded_frames, probe, read_frames
from vssl_bench.data.sampling import EvenClipsSampler
from vssl_bench.data.synthetic import write_video


def _fragmented_mpeg4_mp4(path: Path, frames: np.ndarray) -> str:
    with av.open(str(path), mode="w", options={"movflags": "frag_keyframe+empty_moov"}) as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.codec_context.gop_size = 12
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(stream.encode(None))
    return str(path)


@pytest.fixture(scope="module")
def quirks(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("quirks")

    def packed(name: str, n: int, ending: str, h: int = 64, w: int = 96, fps=25) -> str:
        plain = write_mpeg4_avi(root / f"{name}.plain.avi", index_frames(n, h, w), fps=fps, gop=12, bframes=1)
        return pack_bframes(plain, root / f"{name}.avi", ending=ending)

    ucf = root / "ucf101_2997fps.avi"
    write_mpeg4_avi(ucf, index_frames(45), fps=Fraction(30000, 1001), gop=12)
    mkv = root / "kinetics.mkv"
    write_video(mkv, index_frames(50), codec="libx264", gop=25)
    return {
        "xvid_packed": packed("xvid", 41, "xvid"),  # 41 frames end in a reference + B pair
        "dx50_packed_560x240": packed("dx50_560", 30, "dx50", 240, 560, Fraction(30000, 1001)),
        "dx50_packed_432x240": packed("dx50_432", 30, "dx50", 240, 432),
        "ucf101_2997fps": str(ucf),
        "kinetics_mkv": str(mkv),
        "mpeg4_in_fragmented_mp4": _fragmented_mpeg4_mp4(root / "reencoded.mp4", index_frames(40)),
    }


def decoder_frames(path: str) -> list[int]:
    """What FFmpeg's decoder outputs in a plain sequential decode (its own DivX unpacking included)."""
    with av.open(path) as container:
        return [read_index(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]


def header_count(path: str) -> int:
    with av.open(path) as container:
        return int(container.streams.video[0].frames or 0)


def coded_vops(path: str) -> int:
    from vssl_bench.data import mpeg4

    with av.open(path) as container:
        stream = container.streams.video[0]
        bits = mpeg4.time_increment_bits(bytes(stream.codec_context.extradata or b""))
        return sum(v.coded for p in container.demux(stream) if p.size for v in mpeg4.vops(bytes(p), bits))


def test_the_imitations_have_the_real_files_counts(quirks):
    """The fixtures disagree as the real files do, or they would prove nothing."""
    xvid = quirks["xvid_packed"]
    assert header_count(xvid) == len(decoder_frames(xvid)) == coded_vops(xvid) - 1 == 40
    for name in ("dx50_packed_560x240", "dx50_packed_432x240"):
        assert header_count(quirks[name]) == len(decoder_frames(quirks[name])) + 1 == 31
    assert header_count(quirks["kinetics_mkv"]) == 0 and header_count(quirks["mpeg4_in_fragmented_mp4"]) == 0
    assert probe(quirks["ucf101_2997fps"]).fps == pytest.approx(29.97, abs=0.01)


@pytest.mark.parametrize("name", ["xvid_packed", "dx50_packed_560x240", "dx50_packed_432x240", "ucf101_2997fps",
                                  "kinetics_mkv", "mpeg4_in_fragmented_mp4"])
def test_probe_counts_what_the_decoder_outputs_and_every_counted_frame_reads(quirks, name):
    path = quirks[name]
    sequential = decoder_frames(path)
    info = probe(path)
    assert info.num_frames == len(sequential) == count_decoded_frames(info)[0]
    last = read_frames(path, [info.num_frames - 1])
    assert read_index(last[0].numpy()) == sequential[-1]
    everything = read_frames(path, np.arange(info.num_frames)[::-1])  # backwards: a seek per keyframe span
    assert [read_index(f) for f in everything.numpy()][::-1] == sequential


@pytest.mark.parametrize("name", ["xvid_packed", "dx50_packed_560x240", "dx50_packed_432x240", "ucf101_2997fps",
                                  "kinetics_mkv", "mpeg4_in_fragmented_mp4"])
def test_data_check_calls_no_quirk_unusable(quirks, name):
    findings = {f.kind: f.detail for f in check_video(quirks[name], min_frames=16)}
    assert not {"truncated", "frame_mismatch", "unopenable", "zero_frames"} & set(findings), findings
    if name == "xvid_packed":
        assert "1 coded VOP(s) the decoder never outputs" in findings["packed_bframes"]
        assert "header_count" not in findings
    if name.startswith("dx50"):
        assert findings["header_count"] == "header counts 31 frames, the decoder outputs 30 (the count used)"


def test_a_cut_packed_file_is_still_truncated(quirks, tmp_path):
    cut = tmp_path / "cut.avi"
    data = Path(quirks["dx50_packed_560x240"]).read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    kinds = {f.kind for f in check_video(str(cut))}
    assert "truncated" in kinds


def test_evaluation_at_the_papers_clip_spread_drops_no_packed_video(quirks):
    """The last of the evenly spread clips ends at the last counted frame: it must decode, or the test
    video would be left out of fine-tuning evaluation and retrieval."""
    names = ["xvid_packed", "dx50_packed_560x240", "dx50_packed_432x240"]
    index = VideoIndex(samples=[(quirks[n], 0) for n in names], classes=["x"])
    for clips in (10, 1):  # RSPNet/PRP test clips; one clip
        dataset = ClipDataset(index, EvenClipsSampler(clip_len=16, num_clips=clips), frame_size=(32, 48),
                              replace_failed=False)
        items = [dataset[i] for i in range(len(dataset))]
        assert all(item["valid"] and item["skipped"] == 0 for item in items), [i["skip_reason"] for i in items]
        last = items[0]["video"][-1, -1].numpy()  # the xvid file's last counted frame
        assert last.shape == (32, 48, 3)
