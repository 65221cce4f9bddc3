"""Loader throughput against the decode limit, per method sampler and container.

For UCF101-like videos (320x240 MPEG-4 avi, 25 fps, 7 s, a keyframe every 12 frames) and
Kinetics-like videos (340x256 H.264 mp4 with B-frames, 25 fps, 10 s, a keyframe every 125 frames),
the same Kinetics-like files after ``vssl-bench data transcode`` (short side 128, keyframe every 16),
and for each method's sampler (RSPNet/ASCNet: three clips over two windows; Pace: one clip at pace
1-4; PRP: a dilated clip and its in-between frames), this measures in one run:

- ``loader``: samples/s of one loader worker (``ClipDataset.__getitem__`` in this process: probe
  cached, decode, resize to the target size in the decoder, slice the clips);
- ``decode_limit``: samples/s at which the same PyAV decoder, single-threaded, does only the work a
  sample cannot avoid: seek to the keyframe before the first needed frame, decode every frame up to
  the last needed one, convert the needed frames to RGB at the target size. Both replay the same
  frame index sets;
- ``ratio`` = loader / decode_limit (the issue's target is >= 0.5);
- ``ffmpeg_null_fps``: ``ffmpeg -threads 1 -f null`` full-decode frames/s, where an ffmpeg binary exists.

Usage: python benchmarks/loader_throughput.py [--videos 8] [--samples 64] [--size 128,171]
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import bisect
import json
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from vssl_bench.data.datamodule import ClipDataset
from vssl_bench.data.datasets import VideoIndex
from vssl_bench.data.decode import output_size, probe
from vssl_bench.data.synthetic import SyntheticSpec, render_video, write_video
from vssl_bench.data.transcode import transcode_video
from vssl_bench.methods.pace import PaceSampler
from vssl_bench.methods.prp import DilatedSampler
from vssl_bench.methods.rspnet import TwoSpeedSampler

CONTAINERS = {
    "ucf101_avi": {"ext": "avi", "width": 320, "height": 240, "frames": 175, "gop": 12,
                   "what": "320x240 MPEG-4 part 2 avi, 25 fps, 175 frames, keyframe every 12"},
    "kinetics_mp4": {"ext": "mp4", "width": 340, "height": 256, "frames": 250, "gop": 125,
                     "what": "340x256 H.264 mp4 (B-frames), 25 fps, 250 frames, keyframe every 125"},
    "kinetics_mp4_transcoded": {"from": "kinetics_mp4",
                                "what": "the Kinetics-like files after `vssl-bench data transcode` "
                                        "(short side 128, keyframe every 16)"},
}
SAMPLERS = {
    "rspnet/ascnet": TwoSpeedSampler(clip_len=16, speed_ratio=2),
    "pace": PaceSampler(clip_len=16, max_pace=4),
    "prp": DilatedSampler(clip_len=16, rates=(1, 2, 4, 8)),
}


def make_videos(folder: Path, kind: str, count: int) -> list[str]:
    c = CONTAINERS[kind]
    if "from" in c:  # transcode the source kind's files, as a user would
        out = []
        for path in make_videos(folder, c["from"], count):
            target = folder / "transcoded" / Path(path).name
            transcode_video(Path(path), target, short_side=128, keyframe_interval=16)
            out.append(str(target))
        return out
    spec = SyntheticSpec(num_frames=c["frames"], height=c["height"], width=c["width"])
    paths = []
    for i in range(count):
        path = folder / f"{kind}_{i:03d}.{c['ext']}"
        write_video(path, render_video(spec, i % 12, 1 + i // 12, 1), fps=25, gop=c["gop"])
        paths.append(str(path))
    return paths


def plan(paths: list[str], sampler, samples: int, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """The (video, sorted unique frame indices) of ``samples`` draws, replayed by both measurements."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(samples):
        path = paths[i % len(paths)]
        clips, _ = sampler(probe(path).num_frames, rng)
        out.append((path, np.unique(np.concatenate(clips))))
    return out


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


def decode_limit_rate(planned: list[tuple[str, np.ndarray]], size: tuple[int, int]) -> float:
    """Seek to the keyframe before the first needed frame, decode through the last needed one,
    convert only the needed frames. No index bookkeeping beyond a counter."""
    infos = {p: probe(p) for p, _ in planned}
    start = time.perf_counter()
    for path, needed in planned:
        info = infos[path]
        keys = info.keyframes.tolist()
        k = bisect.bisect_right(keys, int(needed[0])) - 1
        key = keys[k]
        out_h, out_w = output_size(info.width, info.height, size)
        wanted, last = set(needed.tolist()), int(needed[-1])
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_count = 1
            container.seek(int(info.seek_pts[k]), stream=stream, backward=True, any_frame=False)
            position = key
            for frame in container.decode(stream):
                if position in wanted:
                    frame.to_ndarray(format="rgb24", width=out_w, height=out_h, interpolation="BILINEAR")
                if position >= last:
                    break
                position += 1
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--samples", type=int, default=64, help="samples per sampler and container")
    parser.add_argument("--size", default="128,171", help="decoded frame size H,W")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split(","))
    report = {"machine": f"{platform.processor() or platform.machine()}, single process (one loader worker)",
              "decoded_size": list(size), "clip_len": 16, "containers": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, spec in CONTAINERS.items():
            paths = make_videos(Path(tmp), kind, args.videos)
            for p in paths:
                probe(p)  # a running loader has its probes cached
            entry = {"video": spec["what"], "ffmpeg_null_fps": ffmpeg_null_fps(paths), "samplers": {}}
            for name, sampler in SAMPLERS.items():
                planned = plan(paths, sampler, args.samples)
                frames = float(np.mean([len(n) for _, n in planned]))
                limit = decode_limit_rate(planned, size)
                loader = loader_rate(planned, size)
                entry["samplers"][name] = {"frames_per_sample": round(frames, 1),
                                           "loader_samples_per_s": round(loader, 1),
                                           "decode_limit_samples_per_s": round(limit, 1),
                                           "ratio": round(loader / limit, 2)}
            report["containers"][kind] = entry
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
