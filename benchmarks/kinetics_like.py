"""Kinetics-like H.264 input and what one CPU core pays to decode a sample of it.

``kinetics_like_videos`` renders the synthetic actions (per-pixel noise included, so that decoding
costs what real footage costs) at Kinetics' usual 340x256 and writes them as H.264 mp4 with B-frames
(libx264) and a chosen keyframe interval; ``short_side`` then rewrites them as ``vssl-bench data
transcode`` would (``profile``: one of its profiles), and ``transcoded`` runs that command's own
function on a folder of them, timing it. ``decode_costs`` times a loader worker's work per sample
(``ClipDataset.load``: the method's sampler, one decode pass over the union of its clips' frames,
resizing, slicing) on this process's one thread, for each method's paper sampler and fine-tuning's one
random clip. The cost is the process's CPU time, not wall time: the CPU seconds a sample takes are what
sizes the loader, and other work on the machine does not inflate them (cache and memory contention
still can).
"""

from __future__ import annotations

import functools
import resource
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from vssl_bench.data.datamodule import ClipDataset
from vssl_bench.data.datasets import VideoIndex
from vssl_bench.data.decode import Pixels, read_frames
from vssl_bench.data.sampling import ClipSampler, RandomClipSampler
from vssl_bench.data.synthetic import SyntheticSpec, render_video, write_video
from vssl_bench.data.transcode import DEFAULT_PROFILE, transcode_tree, transcode_video

PAPER_RECIPES = {"rspnet": "rspnet/r3d18_k400.yaml", "pace": "pace/r3d18_ucf101.yaml",
                 "prp": "prp/r3d18_ucf101.yaml", "ascnet": "ascnet/r3d18_k400.yaml"}


def kinetics_like_videos(folder: Path, count: int, width: int = 340, height: int = 256, frames: int = 250,
                         gop: int = 150, short_side: int | None = None, keyframe_interval: int | None = None,
                         profile: str = DEFAULT_PROFILE) -> list[str]:
    """``count`` H.264 mp4 files (``width`` x ``height``, ``frames`` at 25 fps, a keyframe every ``gop``);
    with ``short_side``, the same files transcoded to that short side by ``profile`` (its keyframe
    interval unless ``keyframe_interval`` is given)."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = SyntheticSpec(num_frames=frames, height=height, width=width)
    paths = []
    for i in range(count):
        path = folder / f"kinetics_like_{width}x{height}_gop{gop}_{i:03d}.mp4"
        if not path.is_file():  # the fastest class: consecutive frames differ, after transcoding too
            write_video(path, render_video(spec, len(spec.classes) - 1, 1 + i, 1), fps=25, gop=gop)
        if short_side is not None:
            keys = "" if keyframe_interval is None else f"_key{keyframe_interval}"
            source, path = path, folder / f"short{short_side}_{profile}{keys}" / path.name
            if not path.is_file():
                transcode_video(source, path, short_side=short_side, keyframe_interval=keyframe_interval,
                                profile=profile)
        paths.append(str(path))
    return paths


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def transcoded(sources: list[str], folder: Path, profile: str, short_side: int = 128) -> tuple[list[str], dict]:
    """``sources`` rewritten by ``vssl-bench data transcode``'s own function (``transcode_tree``, one worker
    process) with ``profile`` into ``folder``, which is emptied first; the output paths and what it cost:
    bytes and transcoding CPU seconds (the worker's and this process's) per video."""
    shutil.rmtree(folder, ignore_errors=True)
    source_dir = folder / "source"
    source_dir.mkdir(parents=True)
    for path in sources:
        (source_dir / Path(path).name).symlink_to(Path(path).resolve())
    out = folder / "out"
    cpu, children = time.process_time(), _children_cpu_s()
    report = transcode_tree(source_dir, out, short_side=short_side, workers=1, progress=False, profile=profile)
    cpu = time.process_time() - cpu + _children_cpu_s() - children
    if report.failed or report.written != len(sources):
        raise RuntimeError(f"transcoding with profile {profile} failed: {report.summary()}")
    paths = [str(out / Path(p).name) for p in sources]
    return paths, {"bytes_per_video": round(float(np.mean([Path(p).stat().st_size for p in paths]))),
                   "transcode_cpu_s_per_video": round(cpu / len(sources), 3),
                   "luma_psnr_db": round(luma_psnr(sources[0], paths[0]), 2)}


def luma_psnr(source: str, transcoded: str) -> float:
    """Mean luma PSNR of ``transcoded`` against ``source`` resized to its size as the transcoder resizes
    (area averaging): what the coding lost, frame for frame."""
    import av

    with av.open(source) as a, av.open(transcoded) as b:
        height, width = b.streams.video[0].codec_context.height, b.streams.video[0].codec_context.width
        scores = []
        for original, coded in zip(a.decode(video=0), b.decode(video=0)):
            want = original.reformat(width=width, height=height, format="gray", interpolation="AREA").to_ndarray()
            got = coded.reformat(format="gray").to_ndarray()
            mse = np.mean((want.astype(np.float64) - got) ** 2)
            scores.append(10 * np.log10(255 ** 2 / max(mse, 1e-10)))
    return float(np.mean(scores))


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


def _load_gathering(dataset: ClipDataset, i: int, rng: np.random.Generator) -> torch.Tensor:
    """The loader's work per sample as it was before clips were read in place: the union of the clips'
    frames decoded, then the clips gathered from it with tensor indexing (a copy of every frame)."""
    row, clips, _, _ = dataset.sample(i % len(dataset.index), rng)
    info = dataset.probes.info(row)
    unique, inverse = np.unique(np.concatenate(clips), return_inverse=True)
    size = dataset.frame_size if dataset.pixels == "rgb24" else None
    frames = read_frames(info.path, unique, size, info=info, pixels=dataset.pixels)
    return frames[torch.from_numpy(inverse)].view(len(clips), len(clips[0]), *frames.shape[1:])


def decode_costs(paths: list[str], samplers: dict[str, tuple[ClipSampler, tuple[int, int]]], samples: int,
                 seed: int = 0, pixels: Pixels = "rgb24", gather: bool = False) -> dict[str, float]:
    """CPU milliseconds per sample, per sampler: ``samples`` loads spread over ``paths`` after one
    untimed load per video (the probe table is made when the dataset is, as in training). ``pixels``:
    what the worker ships (``yuv420p``: the decoder's planes, converted on the device); ``gather``:
    time the earlier loader, which gathered the clips from the decoded union."""
    index = VideoIndex([(p, 0) for p in paths], ["video"])
    costs = {}
    for name, (sampler, frame_size) in samplers.items():
        dataset = ClipDataset(index, sampler, frame_size, replace_failed=False, pixels=pixels)
        load = functools.partial(_load_gathering, dataset) if gather else dataset.load
        rng = np.random.default_rng(seed)
        for i in range(len(paths)):
            load(i, rng)
        start = time.process_time()
        for i in range(samples):
            load(i % len(paths), rng)
        costs[name] = round((time.process_time() - start) / samples * 1e3, 3)
    return costs
