"""Decoding throughput: our reader against the readers a user would pick instead, and our loader
against our reader.

Videos (rendered by the synthetic generator, with per-pixel noise so that decoding costs what real
footage costs):

- ``ucf101_avi``: 320x240 MPEG-4 part 2 avi (the XviD/DivX codec of UCF101/HMDB51), 25 fps, 175
  frames, a keyframe every 12;
- ``ucf101_avi_one_key``: the same codec, 131 frames and a single keyframe (many UCF101 files);
- ``ucf101_avi_packed``: with B-frames stored the DivX way ("packed B-frames", about 3,000 UCF101
  videos; written by ``tests/quirky_videos.py``, which says what the quirk is);
- ``kinetics_mp4``: 340x256 H.264 mp4 with B-frames, 25 fps, 250 frames, a keyframe every 125;
- ``kinetics_mp4_transcoded``: the same files after ``vssl-bench data transcode`` (short side 128,
  the default profile).

Index sets come from each method's sampler (RSPNet/ASCNet: three clips over two windows; Pace: one
clip at pace 1-4; PRP: a dilated clip and its in-between frames); every reader decodes the same
sorted index sets, one thread, to uint8 RGB at the paper's frame size (128x171) and at full size.

``peers`` (per container, sampler and size): clips/s of
  - ``ours``: ``read_frames`` as a loader worker calls it (the video's probe cached: a worker probes
    each video once), and ``ours_cold`` (the probe redone for every sample);
  - ``torchcodec``: ``VideoDecoder(seek_mode="exact", num_ffmpeg_threads=1)``, resize by its
    ``Resize`` decoder transform; ``decord``: ``VideoReader(num_threads=1, width=, height=)``;
    one decoder object per sample, as a loader opens a new video for every sample;
  - each reader's exactness: the samples whose every frame is the frame a full sequential decode
    gives at that index (the nearest of the sequential frames within +-6, and close to it), judged
    on full-size reads (which frame a reader returns does not depend on the output size);
  - ``ratio``: ours / the fastest *exact* peer (a peer that returns wrong frames is no alternative).
  Each reader decodes all samples of a row in one block; blocks rotate over ``--rounds`` rounds and
  each reader's best round counts.
``loader``: samples/s of one loader worker (``ClipDataset.__getitem__`` in this process: decode,
  slice the clips, make tensors) against ``read_frames`` alone on the same index sets: what the data
  layer costs on top of decoding (ratio near 1).

Peers are optional (``pip install -e '.[bench]'``); a reader that is not installed is skipped with a
note. Usage: python benchmarks/loader_throughput.py [--videos 4] [--samples 24] [--rounds 3]
[--sizes 128x171,full] [--json report.json]. Prints a markdown table; ``--json`` also writes the
whole report.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import torch

from vssl_bench.data import decode
from vssl_bench.data.datamodule import ClipDataset
from vssl_bench.data.datasets import VideoIndex
from vssl_bench.data.decode import probe, read_frames
from vssl_bench.data.synthetic import SyntheticSpec, render_video, write_video
from vssl_bench.methods.pace import PaceSampler
from vssl_bench.methods.prp import DilatedSampler
from vssl_bench.methods.rspnet import TwoSpeedSampler

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from kinetics_like import kinetics_like_videos  # noqa: E402
from quirky_videos import pack_bframes, write_mpeg4_avi  # noqa: E402

CONTAINERS = {
    "ucf101_avi": {"ext": "avi", "width": 320, "height": 240, "frames": 175, "gop": 12,
                   "what": "320x240 MPEG-4 part 2 avi, 175 frames, keyframe every 12"},
    "ucf101_avi_one_key": {"ext": "avi", "width": 320, "height": 240, "frames": 131, "gop": 1000,
                           "what": "320x240 MPEG-4 part 2 avi, 131 frames, one keyframe"},
    "ucf101_avi_packed": {"ext": "avi", "width": 320, "height": 240, "frames": 131, "gop": 1000, "packed": True,
                          "what": "320x240 MPEG-4 part 2 avi, 131 frames, one keyframe, packed B-frames"},
    "kinetics_mp4": {"ext": "mp4", "width": 340, "height": 256, "frames": 250, "gop": 125,
                     "what": "340x256 H.264 mp4 (B-frames), 250 frames, keyframe every 125"},
    "kinetics_mp4_transcoded": {"from": "kinetics_mp4",
                                "what": "the Kinetics-like files after `vssl-bench data transcode` "
                                        "(short side 128, the default profile)"},
}
SAMPLERS = {
    "rspnet/ascnet": TwoSpeedSampler(clip_len=16, speed_ratio=2),
    "pace": PaceSampler(clip_len=16, max_pace=4),
    "prp": DilatedSampler(clip_len=16, rates=(1, 2, 4, 8)),
}
NEAR = 6  # exactness: the returned frame is compared with the sequential frames within +-NEAR


def make_videos(folder: Path, kind: str, count: int) -> list[str]:
    c = CONTAINERS[kind]
    if "from" in c:  # the source kind's files transcoded, as a user would (`data transcode`'s defaults)
        source = CONTAINERS[c["from"]]
        return kinetics_like_videos(folder, count, source["width"], source["height"], source["frames"],
                                    source["gop"], short_side=128)
    if c["ext"] == "mp4":
        return kinetics_like_videos(folder, count, c["width"], c["height"], c["frames"], c["gop"])
    spec = SyntheticSpec(num_frames=c["frames"], height=c["height"], width=c["width"])
    paths = []
    for i in range(count):
        path = folder / f"{kind}_{i:03d}.{c['ext']}"
        frames = render_video(spec, len(spec.classes) - 1, 1 + i, 1)  # the fastest class: frames tell apart
        if c.get("packed"):
            plain = folder / f"{kind}_{i:03d}_unpacked.avi"
            write_mpeg4_avi(plain, frames, fps=25, gop=c["gop"], bframes=2)
            pack_bframes(plain, path)
        else:
            write_video(path, frames, fps=25, gop=c["gop"])
        paths.append(str(path))
    return paths


def plan(paths: list[str], sampler, samples: int, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """The (video, sorted unique frame indices) of ``samples`` draws, replayed by every measurement."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(samples):
        path = paths[i % len(paths)]
        clips, _ = sampler(probe(path).num_frames, rng)
        out.append((path, np.unique(np.concatenate(clips))))
    return out


# ---------------------------------------------------------------------------------------------- readers

Reader = Callable[[str, np.ndarray, "tuple[int, int] | None"], np.ndarray]


def read_ours(path: str, indices: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    return read_frames(path, indices, size).numpy()


def read_ours_cold(path: str, indices: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    decode._PROBE_CACHE.clear()
    return read_frames(path, indices, size).numpy()


def peer_readers() -> tuple[dict[str, Reader], dict[str, str]]:
    """The installed peers, and a note for each that is not."""
    readers: dict[str, Reader] = {}
    notes: dict[str, str] = {}
    try:
        import torchcodec
        from torchcodec.decoders import VideoDecoder
        from torchcodec.transforms import Resize

        def read_torchcodec(path: str, indices: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
            decoder = VideoDecoder(path, dimension_order="NHWC", num_ffmpeg_threads=1, seek_mode="exact",
                                   transforms=[Resize(size)] if size else None)
            return decoder.get_frames_at(indices.tolist()).data.numpy()

        readers[f"torchcodec {torchcodec.__version__.split('+')[0]}"] = read_torchcodec
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available here"
        notes["torchcodec"] = f"skipped: {type(exc).__name__}: {exc} (pip install -e '.[bench]')"
    try:
        import decord

        def read_decord(path: str, indices: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
            h, w = size or (-1, -1)
            reader = decord.VideoReader(path, num_threads=1, height=h, width=w)
            return reader.get_batch(indices.tolist()).asnumpy()

        readers[f"decord {decord.__version__}"] = read_decord
    except Exception as exc:  # noqa: BLE001
        notes["decord"] = f"skipped: {type(exc).__name__}: {exc} (pip install -e '.[bench]')"
    return readers, notes


def sequential_frames(path: str) -> np.ndarray:
    """Every frame of a plain sequential decode (FFmpeg's own order), full size."""
    with av.open(path) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def is_exact(frames: np.ndarray, indices: np.ndarray, reference: np.ndarray) -> bool:
    """Every returned frame is, among the sequential frames within +-NEAR of its index, nearest to the
    one at its index (or as near), and close to it (readers' colour conversions and scalers differ slightly)."""
    if frames.shape[0] != indices.size or frames.shape[1:] != reference.shape[1:]:
        return False
    for frame, index in zip(frames, indices.tolist()):
        lo, hi = max(0, index - NEAR), min(len(reference), index + NEAR + 1)
        got = frame[::2, ::2].astype(np.float32)
        distance = [np.abs(got - reference[j, ::2, ::2]).mean() for j in range(lo, hi)]
        if distance[index - lo] > min(distance) or distance[index - lo] > 4.0:  # a tie with an identical
            return False  # neighbour (a static stretch the encoder repeated) is still the right picture
    return True


def exactness(readers: dict[str, Reader], planned: list[tuple[str, np.ndarray]],
              references: dict[str, np.ndarray]) -> dict[str, str]:
    """Per reader, "exact samples/samples" at full size, or the error that stopped it. Judged at full
    size only: readers' scalers differ by a few levels, which at 128x171 on smooth footage is as much
    as one frame differs from the next; which frame a reader returns does not depend on the size."""
    out = {}
    for name, read in readers.items():
        try:
            good = sum(is_exact(read(path, indices, None), indices, references[path]) for path, indices in planned)
        except Exception as exc:  # noqa: BLE001 - a peer failing on a quirk is a finding
            out[name] = f"error: {type(exc).__name__}: {str(exc)[:120]}"
            continue
        out[name] = f"{good}/{len(planned)}"
    return out


def compare_readers(readers: dict[str, Reader], planned: list[tuple[str, np.ndarray]],
                    size: tuple[int, int] | None, rounds: int, exact: dict[str, str]) -> dict:
    """Clips/s (best of ``rounds``) of each reader, with its exactness. A reader decodes all samples
    in one block, the blocks' order rotating from round to round: interleaving readers sample by
    sample would bill one reader for another's after-effects (decord's decoding threads outlive its
    reader objects and slow down whatever runs next, by up to 40 % as measured here)."""
    names = [name for name in readers if not exact[name].startswith("error")]
    best = dict.fromkeys(names, float("inf"))
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            start = time.perf_counter()
            for path, indices in planned:
                readers[name](path, indices, size)
            best[name] = min(best[name], time.perf_counter() - start)
    out = {}
    for name in readers:
        if name in best:
            out[name] = {"clips_per_s": round(len(planned) / best[name], 1), "exact": exact[name]}
        else:
            out[name] = {"error": exact[name].removeprefix("error: ")}
    return out


def with_ratio(figures: dict) -> dict:
    """Ours / the fastest peer that returned the right frames for every sample."""
    peers = [f for name, f in figures.items() if not name.startswith("ours") and "clips_per_s" in f
             and f["exact"].split("/")[0] == f["exact"].split("/")[1]]
    best = max((f["clips_per_s"] for f in peers), default=None)
    ours = figures["ours"].get("clips_per_s")
    figures["ratio_to_best_exact_peer"] = round(ours / best, 2) if best and ours else None
    return figures


# ------------------------------------------------------------------------------- loader vs decode limit


class _Replay:
    """A sampler that hands out planned index sets, so the loader decodes exactly the planned frames."""

    def __init__(self, planned: list[tuple[str, np.ndarray]]) -> None:
        self.planned, self.i = planned, 0

    def __call__(self, num_frames: int, rng: np.random.Generator):
        indices = self.planned[self.i % len(self.planned)][1]
        self.i += 1
        return [indices], {}


def loader_rate(planned: list[tuple[str, np.ndarray]], size: tuple[int, int]) -> float:
    index = VideoIndex([(p, 0) for p, _ in planned], ["x"])
    dataset = ClipDataset(index, _Replay(planned), size, replace_failed=False)
    start = time.perf_counter()
    for i in range(len(planned)):
        dataset[i]
    return len(planned) / (time.perf_counter() - start)


def reader_rate(planned: list[tuple[str, np.ndarray]], size: tuple[int, int]) -> float:
    start = time.perf_counter()
    for path, indices in planned:
        read_ours(path, indices, size)
    return len(planned) / (time.perf_counter() - start)


def ffmpeg_null_fps(paths: list[str]) -> float | None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    frames = sum(probe(p).num_frames for p in paths)
    start = time.perf_counter()
    for path in paths:
        subprocess.run([ffmpeg, "-v", "error", "-threads", "1", "-i", path, "-f", "null", "-"], check=True)
    return frames / (time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------- report


def table(report: dict) -> str:
    readers = report["readers"]
    lines = [f"Decoding clips/s, one thread, {report['machine']} (exact samples in brackets)", "",
             "| container | sampler | size | " + " | ".join(readers) + " | ours / best exact peer |",
             "|---" * (len(readers) + 4) + "|"]
    for kind, entry in report["containers"].items():
        for sampler, by_size in entry["peers"].items():
            for size, figures in by_size.items():
                cells = []
                for name in readers:
                    f = figures.get(name, {})
                    cells.append(f"{f['clips_per_s']} ({f['exact']})" if "clips_per_s" in f
                                 else f"error: {f.get('error', 'n/a')}")
                ratio = figures["ratio_to_best_exact_peer"]
                lines.append(f"| {kind} | {sampler} | {size} | " + " | ".join(cells)
                             + f" | {'-' if ratio is None else f'{ratio:.2f}x'} |")
    lines += ["", *(f"{name}: {note}" for name, note in report["peer_notes"].items())]
    return "\n".join(lines)


def parse_size(text: str) -> tuple[int, int] | None:
    if text == "full":
        return None
    h, w = text.lower().replace(",", "x").split("x")
    return int(h), int(w)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--samples", type=int, default=24, help="samples per sampler and container")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds; the best counts")
    parser.add_argument("--sizes", default="128x171,full", help="output sizes HxW or 'full', comma separated")
    parser.add_argument("--containers", default=",".join(CONTAINERS))
    parser.add_argument("--no-loader", action="store_true", help="skip the loader vs reader section")
    parser.add_argument("--json", type=Path, help="also write the whole report here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sizes = {text: parse_size(text) for text in args.sizes.split(",")}
    peers, notes = peer_readers()
    readers: dict[str, Reader] = {"ours": read_ours, "ours_cold": read_ours_cold, **peers}
    report = {"machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} thread",
              "readers": list(readers), "peer_notes": notes, "clip_len": 16, "containers": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.containers.split(","):
            spec = CONTAINERS[kind]
            paths = make_videos(Path(tmp), kind, args.videos)
            for p in paths:
                probe(p)  # a running loader has its probes cached
            entry = {"video": spec["what"], "ffmpeg_null_fps": ffmpeg_null_fps(paths), "peers": {}, "loader": {}}
            references = {p: sequential_frames(p) for p in paths}
            for name, sampler in SAMPLERS.items():
                planned = plan(paths, sampler, args.samples)
                exact = exactness(readers, planned, references)
                for label, size in sizes.items():
                    figures = compare_readers(readers, planned, size, args.rounds, exact)
                    entry["peers"].setdefault(name, {})[label] = with_ratio(figures)
            if not args.no_loader:
                size = next((s for s in sizes.values() if s is not None), (128, 171))
                for name, sampler in SAMPLERS.items():
                    planned = plan(paths, sampler, args.samples)
                    reader, loader = reader_rate(planned, size), loader_rate(planned, size)
                    entry["loader"][name] = {"frames_per_sample": round(float(np.mean([len(n) for _, n in planned])), 1),
                                             "loader_samples_per_s": round(loader, 1),
                                             "reader_samples_per_s": round(reader, 1),
                                             "ratio": round(loader / reader, 2)}
            report["containers"][kind] = entry
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print(table(report))


if __name__ == "__main__":
    main()
