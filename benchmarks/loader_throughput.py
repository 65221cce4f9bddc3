"""Loader throughput: clips/s of the data module for a 16-frame clip at strides 1/2/4/8 on UCF101-like
videos (320x240 MPEG-4 avi, 25 fps, ~7 s), beside the rate at which PyAV decodes every frame of the
same files sequentially, measured in the same run. Prints one JSON document.

Usage: python benchmarks/loader_throughput.py [--videos 12] [--workers 0] [--size 128,171]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from vssl_bench.data.datamodule import ClipDataset
from vssl_bench.data.datasets import VideoIndex
from vssl_bench.data.sampling import RandomClipSampler
from vssl_bench.data.synthetic import SyntheticSpec, render_video, write_video


def make_videos(folder: Path, count: int) -> list[str]:
    spec = SyntheticSpec(num_frames=175, height=240, width=320)
    paths = []
    for i in range(count):
        path = folder / f"v_{i:03d}.avi"
        write_video(path, render_video(spec, i % 12, 1 + i // 12, 1), fps=25, gop=12)
        paths.append(str(path))
    return paths


def sequential_fps(paths: list[str]) -> float:
    frames, start = 0, time.perf_counter()
    for path in paths:
        with av.open(path) as c:
            for f in c.decode(video=0):
                f.to_ndarray(format="rgb24")
                frames += 1
    return frames / (time.perf_counter() - start)


def loader_rate(paths: list[str], stride: int, size: tuple[int, int], repeats: int) -> float:
    ds = ClipDataset(VideoIndex([(p, 0) for p in paths], ["x"]), RandomClipSampler(16, stride), size,
                     replace_failed=True)
    ds[0]  # warm the probe cache like a running loader
    start = time.perf_counter()
    n = 0
    for _ in range(repeats):
        for i in range(len(ds)):
            ds[i]
            n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--size", default="128,171")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_videos(Path(tmp), args.videos)
        seq = sequential_fps(paths)
        report = {"videos": len(paths), "video": "320x240 MPEG-4 avi, 25 fps, 175 frames, keyframe every 12",
                  "decoded_size": list(size), "single_process": True,
                  "sequential_decode_frames_per_s": round(seq, 1),
                  "sequential_decode_clips16_per_s": round(seq / 16, 1), "strides": {}}
        for stride in (1, 2, 4, 8):
            rate = loader_rate(paths, stride, size, args.repeats)
            report["strides"][str(stride)] = {"clips_per_s": round(rate, 1),
                                              "frames_per_s": round(16 * rate, 1),
                                              "vs_sequential_clip_rate": round(rate / (seq / 16), 2)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    np.random.seed(0)
    main()
