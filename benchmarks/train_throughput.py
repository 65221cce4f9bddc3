"""Training throughput as users run it: ``Trainer.fit`` of a method on Kinetics-like H.264 input,
fed by the real data module, timed by a callback.

- Input: Kinetics-like mp4 files (H.264 with B-frames, ``--video_size``, a keyframe every ``--gop``
  frames; ``--short_side`` rewrites them as ``vssl-bench data transcode`` would), cached under
  ``--cache``, or any Kinetics-layout folder given with ``--root``.
- Warm-up: the first ``--warmup`` steps are not timed, and there must be more of them than the
  batches the loader workers hold ready (``workers x prefetch``), and more timed steps too: otherwise
  the timed window would drain batches decoded before it began and overstate the rate.
- FLOPs: one training step counted by torch's FLOP counter as it runs (forward and backward of the
  trained modules, the forward only of no-grad key/target encoders, which have no backward).
- MFU: achieved FLOP/s over the device's dense bf16 peak (GPU only): its variant's figure matched by
  the device name (``device_figures.PEAK_BF16_DENSE``), or ``--peak``; a GPU with neither stops.
- Busy fraction: kernel time over wall time from the CUDA profiler, over ``--profile_steps`` steps
  *after* the timed window: the profiler slows the steps it watches, so the timed window runs
  without it. A CPU has no kernel timeline, so there the report says so and gives the CPU figures
  instead, with the share of the timed wall spent between steps (waiting for the loader, transfer,
  augmentation).

Usage (CPU, small):  python benchmarks/train_throughput.py --width 0.25 --crop 64 --batch 4
Usage (GPU):         python benchmarks/train_throughput.py --method rspnet --backbone r3d18 --batch 64 \\
                         --workers 16 --short_side 128 --gop 150
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from device_figures import KernelTime, resolve_peak
from kinetics_like import PAPER_RECIPES, kinetics_like_videos

from vssl_bench.bench.recipes import experiments_dir, load_recipe
from vssl_bench.bench.trainer import RunContext, TrainerOptions, quiet_lightning, resolve_precision, share_cpu
from vssl_bench.data.datamodule import VideoDataModule
from vssl_bench.data.sampling import sample_or_wrap
from vssl_bench.data.transcode import DEFAULT_PROFILE, PROFILES
from vssl_bench.methods import METHODS


class StepTimer(pl.Callback):
    """Counts the FLOPs of the first step, times steps ``warmup .. warmup + steps - 1`` (device
    synchronised at both ends, no profiler), then profiles the kernels of the next ``profiled`` steps
    (untimed) and stops the fit after them."""

    def __init__(self, warmup: int, steps: int, device: torch.device, profiled: int = 0) -> None:
        self.warmup, self.steps, self.device, self.profiled = warmup, steps, device, profiled
        self.kernels = KernelTime(device)
        self.flops: float | None = None
        self.seconds = 0.0
        self.between = 0.0  # timed wall spent outside training steps (loader wait, transfer, augmentation)
        self._counter: Any = None
        self._start = self._last_end = 0.0

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        if batch_idx == 0:
            from torch.utils.flop_counter import FlopCounterMode

            self._counter = FlopCounterMode(display=False)
            self._counter.__enter__()
        elif batch_idx == self.warmup:
            self._sync()
            self._start = self._last_end = time.perf_counter()
        elif batch_idx == self.warmup + self.steps and self.profiled:
            self.kernels.start()  # synchronises first; the timed window has ended
        if self.warmup < batch_idx < self.warmup + self.steps:
            self.between += time.perf_counter() - self._last_end

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if batch_idx == 0:
            self._counter.__exit__(None, None, None)
            self.flops = float(self._counter.get_total_flops())
        self._last_end = time.perf_counter()
        if batch_idx == self.warmup + self.steps - 1:
            self._sync()
            self.seconds = time.perf_counter() - self._start
        if batch_idx == self.warmup + self.steps + self.profiled - 1:
            self.kernels.stop()
            trainer.should_stop = True


def input_videos(args: argparse.Namespace) -> tuple[str, str]:
    """A Kinetics-layout root (``<root>/train/<class>/*.mp4``) and what its videos are."""
    if args.root:
        return args.root, f"the Kinetics-layout folder {args.root}"
    width, height = (int(v) for v in args.video_size.split("x"))
    paths = kinetics_like_videos(Path(args.cache) / "sources", args.videos, width, height, args.video_frames,
                                 args.gop, args.short_side, args.keyframe_interval, args.profile)
    what = f"{args.videos} Kinetics-like H.264 mp4, {width}x{height}, {args.video_frames} frames, keyframe every {args.gop}"
    if args.short_side:
        every = args.keyframe_interval or PROFILES[args.profile].keyframe_interval
        what += f", transcoded to short side {args.short_side} by the {args.profile} profile, a keyframe every {every}"
    layout = Path(args.cache) / f"layout_{Path(paths[0]).parent.name}_{args.videos}"
    (layout / "train" / "videos").mkdir(parents=True, exist_ok=True)
    for path in paths:
        link = layout / "train" / "videos" / Path(path).name
        if not link.exists():
            link.symlink_to(Path(path).resolve())
    return str(layout), what


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="rspnet", choices=sorted(METHODS))
    parser.add_argument("--backbone", default="r3d18")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--clip_len", type=int, default=16)
    parser.add_argument("--crop", type=int, default=112)
    parser.add_argument("--frame_size", default="128,171", help="decoded frame size H,W (the recipes' 128x171)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--workers", type=int, default=max(1, len(os.sched_getaffinity(0)) - 1))
    parser.add_argument("--prefetch", type=int, default=2, help="batches each worker keeps ready")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (default: workers x prefetch + 4)")
    parser.add_argument("--steps", type=int, default=50, help="timed steps")
    parser.add_argument("--profile_steps", type=int, default=10,
                        help="steps after the timed ones whose kernels the profiler records (GPU; untimed)")
    parser.add_argument("--peak", type=float, default=None,
                        help="dense bf16 FLOP/s for the MFU (default: the device's entry in device_figures)")
    parser.add_argument("--precision", default="auto", help="auto: bf16-mixed on a GPU with bf16, 32-true on CPU")
    parser.add_argument("--channels_last", default="auto", choices=["auto", "true", "false"])
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--video_size", default="340x256", help="WxH of the Kinetics-like files")
    parser.add_argument("--video_frames", type=int, default=250)
    parser.add_argument("--gop", type=int, default=150, help="keyframe interval of the Kinetics-like files")
    parser.add_argument("--short_side", type=int, default=None, help="transcode the files to this short side")
    parser.add_argument("--profile", default=DEFAULT_PROFILE, choices=list(PROFILES), help="of the transcoded files")
    parser.add_argument("--keyframe_interval", type=int, default=None,
                        help="of the transcoded files (default: the profile's)")
    parser.add_argument("--pixels", default="auto", choices=["auto", "rgb24", "yuv420p"],
                        help="what the loader workers ship (the data module's pixels)")
    parser.add_argument("--cache", default=os.path.join(os.environ.get("VSSL_BENCH_CACHE", "~/.cache/vssl-bench"),
                                                        "train_throughput"))
    parser.add_argument("--root", default=None, help="a Kinetics-layout folder to read instead")
    args = parser.parse_args()
    args.cache = os.path.expanduser(args.cache)
    in_flight = args.workers * args.prefetch
    warmup = in_flight + 4 if args.warmup is None else args.warmup
    if args.workers and (warmup <= in_flight or args.steps <= in_flight):
        parser.error(f"--warmup {warmup} and --steps {args.steps} must both exceed the {in_flight} batches "
                     f"{args.workers} workers x prefetch {args.prefetch} hold ready")

    quiet_lightning()
    accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    device = torch.device("cuda" if accelerator == "gpu" else "cpu")
    peak, peak_source = resolve_peak(device, args.peak)
    profiled = args.profile_steps if device.type == "cuda" else 0  # no kernel timeline on a CPU
    ctx = RunContext(trainer=TrainerOptions(accelerator=accelerator))
    precision = resolve_precision(args.precision, ctx)
    share_cpu(ctx, args.workers)
    recipe = load_recipe(experiments_dir() / PAPER_RECIPES[args.method], "paper")
    model = recipe.model | {"backbone_width": args.width, "clip_len": args.clip_len, "crop_size": args.crop,
                            "channels_last": {"auto": "auto", "true": True, "false": False}[args.channels_last],
                            "compile": args.compile}
    method = METHODS[args.method](backbone=args.backbone, **model)
    root, what = input_videos(args)
    frame_size = tuple(int(v) for v in args.frame_size.split(","))
    needed = (warmup + args.steps + profiled + in_flight) * args.batch
    data = VideoDataModule("kinetics400", root, frame_size=frame_size, batch_size=args.batch,
                           num_workers=args.workers, prefetch_factor=args.prefetch,
                           repeat=math.ceil(needed / args.videos) + 1, sampler=method.sampler, pixels=args.pixels)
    timer = StepTimer(warmup, args.steps, device, profiled)
    trainer = pl.Trainer(accelerator=accelerator, devices=1, precision=precision,
                         max_steps=warmup + args.steps + profiled,
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, benchmark=device.type == "cuda", num_sanity_val_steps=0,
                         callbacks=[timer])
    started = time.perf_counter()
    trainer.fit(method, data)
    fit_s = time.perf_counter() - started

    clips_per_sample = len(sample_or_wrap(method.sampler, args.video_frames, np.random.default_rng(0))[0])
    seconds = timer.seconds
    achieved = timer.flops * args.steps / seconds if timer.flops and seconds else None
    report = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else
        f"cpu ({len(os.sched_getaffinity(0))} cores, {torch.get_num_threads()} training threads)",
        "method": args.method, "backbone": args.backbone, "width": args.width,
        "clip": f"{clips_per_sample} clips x {args.clip_len}x{args.crop}x{args.crop}, decoded at {frame_size[0]}x{frame_size[1]}",
        "input": what, "batch": args.batch, "workers": args.workers, "prefetch": args.prefetch,
        "batches_in_flight": in_flight, "warmup_steps": warmup, "timed_steps": args.steps,
        "precision": precision, "channels_last": method.uses_channels_last, "compile": args.compile,
        "through": "Trainer.fit", "fit_wall_s": round(fit_s, 2), "timed_s": round(seconds, 3),
        "step_s": round(seconds / args.steps, 4),
        "samples_per_s": round(args.steps * args.batch / seconds, 2),
        "clips_per_s": round(args.steps * args.batch * clips_per_sample / seconds, 2),
        "between_steps_share": round(timer.between / seconds, 3),
        "train_flops_per_step": timer.flops,
        "flops_counted": "forward + backward of trained modules, forward only of no-grad encoders",
        "achieved_tflops_per_s": round(achieved / 1e12, 4) if achieved else None,
        "mfu": round(achieved / peak, 4) if achieved and peak else peak_source,
        "peak": peak_source,
        "busy_fraction": timer.kernels.report(),
        "busy_fraction_window": f"{profiled} steps after the timed ones, under the CUDA profiler (not timed)"
        if profiled else "none: no kernel timeline on a CPU",
        "timed_window": "without the profiler",
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
