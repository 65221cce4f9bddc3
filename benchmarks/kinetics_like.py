"""Kinetics-like H.264 input and what one CPU core pays to decode a sample of it.

``kinetics_like_videos`` renders the synthetic actions (per-pixel noise included, so that decoding
costs what real footage costs) at Kinetics' usual 340x256 and writes them as H.264 mp4 with B-frames
(libx264) and a chosen keyframe interval; ``short_side`` then rewrites them as ``vssl-bench data
transcode`` would. ``decode_costs`` times a loader worker's work per sample (``ClipDataset.load``:
the method's sampler, one decode pass over the union of its clips' frames, resizing, slicing) on
this process's one thread, for each method's paper sampler and fine-tuning's one random clip. The
cost is the process's CPU time, not wall time: the CPU seconds a sample takes are what sizes the
loader, and other work on the machine does not inflate them (cache and memory contention still can).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from vssl_bench.data.datamodule import ClipDataset
from vssl_bench.data.datasets import VideoIndex
from vssl_bench.data.sampling import ClipSampler, RandomClipSampler
from vssl_bench.data.synthetic import SyntheticSpec, render_video, write_video
from vssl_bench.data.transcode import transcode_video

PAPER_RECIPES = {"rspnet": "rspnet/r3d18_k400.yaml", "pace": "pace/r3d18_ucf101.yaml",
                 "prp": "prp/r3d18_ucf101.yaml", "ascnet": "ascnet/r3d18_k400.yaml"}


def kinetics_like_videos(folder: Path, count: int, width: int = 340, height: int = 256, frames: int = 250,
                         gop: int = 150, short_side: int | None = None, keyframe_interval: int = 16,
                         fast_decode: bool = False) -> list[str]:
    """``count`` H.264 mp4 files (``width`` x ``height``, ``frames`` at 25 fps, a keyframe every ``gop``);
    with ``short_side``, the same files transcoded to that short side and ``keyframe_interval`` (with
    ``fast_decode``, as ``vssl-bench data transcode`` writes them by default)."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = SyntheticSpec(num_frames=frames, height=height, width=width)
    paths = []
    for i in range(count):
        path = folder / f"kinetics_like_{width}x{height}_gop{gop}_{i:03d}.mp4"
        if not path.is_file():  # the fastest class: consecutive frames differ, after transcoding too
            write_video(path, render_video(spec, len(spec.classes) - 1, 1 + i, 1), fps=25, gop=gop)
        if short_side is not None:
            tag = f"short{short_side}_key{keyframe_interval}" + ("_fastdecode" if fast_decode else "")
            source, path = path, folder / tag / path.name
            if not path.is_file():
                transcode_video(source, path, short_side=short_side, keyframe_interval=keyframe_interval,
                                fast_decode=fast_decode)
        paths.append(str(path))
    return paths


def paper_samplers() -> dict[str, tuple[ClipSampler, tuple[int, int]]]:
    """Each method's sampler and decoded frame size as its paper recipe sets them, and fine-tuning's."""
    from vssl_bench.bench.recipes import experiments_dir, load_recipe
    from vssl_bench.methods import METHODS

    out: dict[str, tuple[ClipSampler, tuple[int, int]]] = {}
    for name, file in PAPER_RECIPES.items():
        recipe = load_recipe(experiments_dir() / file, "paper")
        model = {k: v for k, v in recipe.model.items() if k != "backbone_width"}
        sampler = METHODS[name](backbone="r3d10", backbone_width=0.125, **model).sampler  # the sampler only
        out[name] = sampler, tuple(recipe.data["frame_size"])
    out["finetune"] = RandomClipSampler(16), (128, 171)
    return out


def decode_costs(paths: list[str], samplers: dict[str, tuple[ClipSampler, tuple[int, int]]], samples: int,
                 seed: int = 0) -> dict[str, float]:
    """CPU milliseconds per sample, per sampler: ``samples`` loads spread over ``paths`` after one
    untimed load per video (the probe table is made when the dataset is, as in training)."""
    index = VideoIndex([(p, 0) for p in paths], ["video"])
    costs = {}
    for name, (sampler, frame_size) in samplers.items():
        dataset = ClipDataset(index, sampler, frame_size, replace_failed=False)
        rng = np.random.default_rng(seed)
        for i in range(len(paths)):
            dataset.load(i, rng)
        start = time.process_time()
        for i in range(samples):
            dataset.load(i % len(paths), rng)
        costs[name] = round((time.process_time() - start) / samples * 1e3, 2)
    return costs
