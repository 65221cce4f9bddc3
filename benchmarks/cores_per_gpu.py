"""Decoding cores one GPU needs, per method: measured CPU cost per sample x the GPU's sample rate.

- Decode cost: the CPU time of a loader worker's work per sample (``kinetics_like.decode_costs``: the
  method's paper sampler, one decode pass, resizing to the recipe's 128x171, slicing) on one thread, on Kinetics-like H.264 as downloaded (340x256, a keyframe every 150 frames) and after
  transcoding to short side 128 with a keyframe every 16 (the reference: how ``vssl-bench data
  transcode`` wrote files before) and as ``data transcode`` writes them by default (the same plus x264's
  ``fastdecode`` tune), with the default's speed-up over the reference per method.
- GPU demand: training FLOPs per sample (one step of the paper recipe's model on R3D-18, counted as it
  runs: forward + backward of what trains, forward only of no-grad encoders) against a GPU's dense
  bf16 peak at an *assumed* MFU. This is not a measurement of any GPU.

cores per GPU = samples/s the GPU would consume x CPU seconds per sample. Collation, the transfer to
pinned memory and the worker's IPC are not in the decode cost.

The GPU is named by its dense bf16 peak, ``--peak``: 989e12 (H100 SXM, H200 SXM) by default; the other
variants' figures are in ``device_figures.PEAK_BF16_DENSE`` (H100 PCIe 756e12, NVL 835e12).

Usage: taskset -c 1 python benchmarks/cores_per_gpu.py [--videos 4 --samples 40 --peak 989e12 --mfu 0.1 0.2 0.35]
Prints one JSON document (and with ``--table`` a markdown table after it).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from device_figures import PEAK_BF16_DENSE, counted_flops
from gpu_check import method_batch, method_step
from kinetics_like import PAPER_RECIPES, decode_costs, kinetics_like_videos, paper_samplers

from vssl_bench.bench.recipes import experiments_dir, load_recipe
from vssl_bench.methods import METHODS

DEFAULT = "data transcode's default (as above, x264 fastdecode)"


def train_flops_per_sample(name: str, backbone: str, batch: int = 2) -> float:
    recipe = load_recipe(experiments_dir() / PAPER_RECIPES[name], "paper")
    method = METHODS[name](backbone=backbone, **recipe.model)
    host = method_batch(method, batch, tuple(recipe.data["frame_size"]), np.random.default_rng(0))
    return counted_flops(method_step(method, host, torch.device("cpu"), "32")) / batch


def assumed_variant(peak: float) -> str:
    """`` (H100 SXM, H200 SXM, ...)``: the devices of that peak, or "" for a peak no entry has."""
    names = [variant for variant, _, value in PEAK_BF16_DENSE if value == peak]
    return f" ({', '.join(names)})" if names else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--samples", type=int, default=40, help="timed samples per method and input")
    parser.add_argument("--backbone", default="r3d18")
    parser.add_argument("--video_size", default="340x256", help="WxH of the Kinetics-like files")
    parser.add_argument("--frames", type=int, default=250, help="frames per file (25 fps)")
    parser.add_argument("--peak", type=float, default=989e12,
                        help="dense bf16 FLOP/s of the GPU assumed (default 989e12: H100 or H200 SXM; "
                             "H100 PCIe 756e12, H100 and H200 NVL 835e12, A100 312e12)")
    parser.add_argument("--mfu", type=float, nargs="+", default=[0.1, 0.2, 0.35], help="assumed, not measured")
    parser.add_argument("--cache", default=None, help="keep the generated videos here")
    parser.add_argument("--table", action="store_true", help="also print a markdown table after the JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    samplers = paper_samplers()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.cache or tmp)
        width, height = (int(v) for v in args.video_size.split("x"))
        files = {"width": width, "height": height, "frames": args.frames, "gop": 150}
        inputs = {
            f"{width}x{height}, keyframe every 150": kinetics_like_videos(folder, args.videos, **files),
            "short side 128, keyframe every 16": kinetics_like_videos(folder, args.videos, **files, short_side=128,
                                                                     keyframe_interval=16),
            DEFAULT: kinetics_like_videos(
                folder, args.videos, **files, short_side=128, keyframe_interval=16, fast_decode=True),
        }
        decode = {what: decode_costs(paths, samplers, args.samples) for what, paths in inputs.items()}
    reference, default = decode["short side 128, keyframe every 16"], decode[DEFAULT]
    flops = {m: train_flops_per_sample(m, args.backbone) for m in PAPER_RECIPES}
    demand = {m: {str(mfu): mfu * args.peak / f for mfu in args.mfu} for m, f in flops.items()}
    cores = {what: {m: {mfu: round(rate * costs[m] / 1e3, 1) for mfu, rate in demand[m].items()} for m in flops}
             for what, costs in decode.items()}
    report = {
        "cpu": f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; CPU time of one thread",
        "decode_ms_per_sample": decode, "train_gflops_per_sample": {m: round(f / 1e9, 1) for m, f in flops.items()},
        "assumed": f"a GPU of dense bf16 peak {args.peak / 1e12:.0f} TFLOP/s{assumed_variant(args.peak)} at MFU "
                   f"{args.mfu} (assumed, not measured)",
        "gpu_samples_per_s": {m: {k: round(v) for k, v in d.items()} for m, d in demand.items()},
        "cores_per_gpu": cores,
        "speed_up_of_the_default_over_the_reference": {m: round(reference[m] / default[m], 2) for m in reference},
    }
    print(json.dumps(report, indent=2))
    if not args.table:
        return
    print("\n| method | train GFLOP/sample | " + " | ".join(f"ms/sample, {w}" for w in decode) + " | " +
          " | ".join(f"cores/GPU at MFU {m}, {w}" for w in decode for m in args.mfu) + " |")
    print("|---" * (2 + len(decode) + len(decode) * len(args.mfu)) + "|")
    for m in flops:
        cells = [f"{flops[m] / 1e9:.1f}", *(f"{decode[w][m]:.1f}" for w in decode),
                 *(f"{cores[w][m][str(mfu)]:.0f}" for w in decode for mfu in args.mfu)]
        print(f"| {m} | " + " | ".join(cells) + " |")
    print("finetune ms/sample: " + ", ".join(f"{w}: {decode[w]['finetune']:.1f}" for w in decode))


if __name__ == "__main__":
    main()
