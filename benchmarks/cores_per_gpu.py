"""Decoding cores one GPU needs, per method, and what each lever of the decoding supply saves.

- Decode cost: the CPU time of a loader worker's work per sample (``kinetics_like.decode_costs``: the
  method's paper sampler, one decode pass, resizing to the recipe's 128x171 or shipping 4:2:0 planes,
  slicing) on one thread, on Kinetics-like H.264 (340x256, a keyframe every 150, B-frames) rewritten
  by ``vssl-bench data transcode``'s own function (``transcode_tree``) with each profile it offers, the
  default first, and with a few measured-only variants of the default (``VARIANTS``: one of its parts
  left out at a time). Measured in the same run, interleaved round by round (each figure the best of
  ``--rounds``), against **the reference**: the ``gop16`` profile (short side 128, a keyframe every 16,
  no B-frames, x264's default coding) read as the loader read it before these levers (RGB out of the
  worker, the clips gathered from the decoded union, FFmpeg's stream analysis on every open).
- The levers, each alone on top of the reference, then chained (each profile's ``all levers`` row):
  ``profile``: the files (``fastdecode``: x264 tune=fastdecode, 7 non-reference B-frames that reads
  skip, whole-macroblock prediction, a keyframe every 32; ``intra``: every frame a keyframe); ``skip`` (all-intra files): unwanted
  frames' packets are not decoded, short gaps read through rather than sought over; ``per-read
  overheads``: clips read in place (no gather copy) and opens without stream analysis; ``yuv420p out``:
  the worker ships the decoder's planes, and the conversion to RGB and the resizing move to the device
  (``transforms.yuv420_to_rgb``). A lever's share is its step's saving in the chain reference ->
  overheads -> profile -> skip -> yuv420p, over the chain's total.
- Each profile's disk bytes and transcoding CPU seconds per video (the source's decoding included; the
  worker process's CPU time and this one's), luma PSNR against the source resized alike (first video),
  and bytes and CPU extrapolated to Kinetics-400's training set (``--k400_videos`` videos of
  ``--k400_frames`` frames, per frame as here: 340x256 sources).
- GPU demand: training FLOPs per sample (one step of the paper recipe's model on R3D-18, counted as it
  runs: forward + backward of what trains, forward only of no-grad encoders) against a GPU's dense
  bf16 peak at an *assumed* MFU. This is not a measurement of any GPU.

cores per GPU = samples/s the GPU would consume x CPU seconds per sample. Collation, the transfer to
pinned memory and the worker's IPC are not in the decode cost.

The GPU is named by its dense bf16 peak, ``--peak``: 989e12 (H100 SXM, H200 SXM) by default; the other
variants' figures are in ``device_figures.PEAK_BF16_DENSE`` (H100 PCIe 756e12, NVL 835e12).

Usage: taskset -c 1 python benchmarks/cores_per_gpu.py [--videos 4 --samples 40 --rounds 3 --json FILE --table]
Prints one JSON document (and with ``--table`` markdown tables after it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

import numpy as np
import torch
from device_figures import PEAK_BF16_DENSE, counted_flops
from gpu_check import method_batch, method_step
from kinetics_like import PAPER_RECIPES, decode_costs, kinetics_like_videos, paper_samplers, transcoded

from vssl_bench.bench.recipes import experiments_dir, load_recipe
from vssl_bench.data import decode
from vssl_bench.data.transcode import DEFAULT_PROFILE, NONREF_B7, PROFILES, WHOLE_MACROBLOCKS, Profile
from vssl_bench.methods import METHODS

REFERENCE_PROFILE = "gop16"
# profiles the command does not offer, written by the same function: the default's parts, one at a time
_B7 = {"bf": NONREF_B7["bf"]}
VARIANTS = {
    "fastdecode, keyframe every 16": Profile(16, PROFILES[DEFAULT_PROFILE].x264, "the default, keyframes as gop16"),
    "fastdecode without B-frames": Profile(32, {"tune": "fastdecode", "x264-params": WHOLE_MACROBLOCKS},
                                           "the default without its B-frames"),
    "fastdecode without tune=fastdecode": Profile(
        32, {**_B7, "x264-params": f"{NONREF_B7['x264-params']}:{WHOLE_MACROBLOCKS}"},
        "the default with x264's default coding"),
    "fastdecode with all partitions": Profile(32, {"tune": "fastdecode", **NONREF_B7},
                                              "the default with x264's inter partitions"),
    "fastdecode with 3 B-frames, all partitions": Profile(
        32, {"tune": "fastdecode", "bf": "3", "x264-params": NONREF_B7["x264-params"]},
        "the default of 2026-12-04 morning: 3 B-frames, x264's partitions"),
}
# the goal: the default profile's CPU ms per sample at most the reference's / this
TARGETS = {"prp": 3.2, "rspnet": 2.7, "pace": 2.6, "ascnet": 1.4}


def train_flops_per_sample(name: str, backbone: str, batch: int = 2) -> float:
    recipe = load_recipe(experiments_dir() / PAPER_RECIPES[name], "paper")
    method = METHODS[name](backbone=backbone, **recipe.model)
    host = method_batch(method, batch, tuple(recipe.data["frame_size"]), np.random.default_rng(0))
    return counted_flops(method_step(method, host, torch.device("cpu"), "32")) / batch


def assumed_variant(peak: float) -> str:
    """`` (H100 SXM, H200 SXM, ...)``: the devices of that peak, or "" for a peak no entry has."""
    names = [variant for variant, _, value in PEAK_BF16_DENSE if value == peak]
    return f" ({', '.join(names)})" if names else ""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def config(profile: str, pixels: str = "rgb24", gather: bool = False, lean: bool = True, skip: bool = True) -> dict:
    return {"profile": profile, "pixels": pixels, "gather": gather, "lean_open": lean, "skip_intra": skip}


def configurations() -> tuple[dict[str, dict], dict[str, list[tuple[str, str]]]]:
    """Every configuration measured, and per profile its chain of (lever, configuration) steps."""
    ref = config(REFERENCE_PROFILE, gather=True, lean=False, skip=False)
    configs = {"reference": ref}
    for name in [*PROFILES, *VARIANTS]:
        if name != REFERENCE_PROFILE:
            configs[f"profile {name} alone"] = {**ref, "profile": name}
    if "intra" in PROFILES:
        configs["skip alone (intra files)"] = {**ref, "profile": "intra", "skip_intra": True}
    configs["per-read overheads alone"] = config(REFERENCE_PROFILE, skip=False)
    configs["yuv420p out alone"] = {**ref, "pixels": "yuv420p"}
    chains: dict[str, list[tuple[str, str]]] = {}
    for name in PROFILES:  # the default first
        steps = [("per-read overheads", "per-read overheads alone")]
        if name != REFERENCE_PROFILE:
            configs[f"{name}, RGB out, no skip"] = config(name, skip=False)
            steps.append((f"profile {name}", f"{name}, RGB out, no skip"))
            if decode_skips(name):
                configs[f"{name}, RGB out"] = config(name)
                steps.append(("skip", f"{name}, RGB out"))
        configs[f"{name}, all levers"] = config(name, "yuv420p")
        steps.append(("yuv420p out", f"{name}, all levers"))
        chains[name] = steps
    for name in VARIANTS:
        configs[f"{name}, all levers"] = config(name, "yuv420p")
    return configs, chains


def decode_skips(profile: str) -> bool:
    return {**PROFILES, **VARIANTS}[profile].keyframe_interval == 1


def measure(setup: dict, files: dict[str, list[str]], samplers, samples: int) -> dict[str, float]:
    saved = decode.LEAN_OPEN, decode.SKIP_INTRA_PACKETS
    decode.LEAN_OPEN, decode.SKIP_INTRA_PACKETS = setup["lean_open"], setup["skip_intra"]
    try:
        return decode_costs(files[setup["profile"]], samplers, samples, pixels=setup["pixels"], gather=setup["gather"])
    finally:
        decode.LEAN_OPEN, decode.SKIP_INTRA_PACKETS = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--samples", type=int, default=40, help="timed samples per method and configuration")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; each figure is the best")
    parser.add_argument("--backbone", default="r3d18")
    parser.add_argument("--video_size", default="340x256", help="WxH of the Kinetics-like files")
    parser.add_argument("--frames", type=int, default=250, help="frames per file (25 fps)")
    parser.add_argument("--peak", type=float, default=989e12,
                        help="dense bf16 FLOP/s of the GPU assumed (default 989e12: H100 or H200 SXM; "
                             "H100 PCIe 756e12, H100 and H200 NVL 835e12, A100 312e12)")
    parser.add_argument("--mfu", type=float, nargs="+", default=[0.1, 0.2, 0.35], help="assumed, not measured")
    parser.add_argument("--k400_videos", type=int, default=240_000, help="Kinetics-400 training videos")
    parser.add_argument("--k400_frames", type=int, default=275, help="frames per video (~10 s at 25-30 fps)")
    parser.add_argument("--downloaded", action="store_true",
                        help="also measure the 340x256 files as generated (slow: ~20x the transcoded cost)")
    parser.add_argument("--cache", default=None, help="keep the generated videos here")
    parser.add_argument("--json", default=None, help="also write the JSON document to this file")
    parser.add_argument("--table", action="store_true", help="also print markdown tables after the JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    samplers = paper_samplers()
    methods = list(PAPER_RECIPES)
    configs, chains = configurations()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.cache or tmp)
        width, height = (int(v) for v in args.video_size.split("x"))
        sources = kinetics_like_videos(folder, args.videos, width, height, args.frames, gop=150)
        files, profiles = {}, {}
        for name, spec in [*PROFILES.items(), *VARIANTS.items()]:
            files[name], cost = transcoded(sources, folder / "transcoded" / name.replace(" ", "_").replace(",", ""),
                                           name if name in PROFILES else spec)
            per_frame = args.k400_frames / args.frames
            profiles[name] = {
                "offered": name in PROFILES, "purpose": spec.purpose, "keyframe_interval": spec.keyframe_interval,
                "x264": spec.x264, **cost,
                "kinetics400": {
                    "disk_gb": round(cost["bytes_per_video"] * per_frame * args.k400_videos / 1e9, 1),
                    "transcode_cpu_hours": round(cost["transcode_cpu_s_per_video"] * per_frame * args.k400_videos
                                                 / 3600, 1)}}
        if args.downloaded:
            files["downloaded"] = sources
            configs["as generated (340x256, keyframe every 150)"] = config("downloaded", gather=True, lean=False,
                                                                           skip=False)
        rounds = []
        for _ in range(args.rounds):
            rounds.append({what: measure(setup, files, samplers, args.samples) for what, setup in configs.items()})
    decode_ms = {what: {m: min(r[what][m] for r in rounds) for m in rounds[0][what]} for what in configs}
    ref = decode_ms["reference"]
    speedup = {what: {m: round(ref[m] / ms[m], 2) for m in ms if ms[m] > 0} for what, ms in decode_ms.items()}
    shares = {}
    for name, steps in chains.items():
        total = {m: ref[m] - decode_ms[steps[-1][1]][m] for m in ref}
        before, shares[name] = "reference", {}
        for lever, what in steps:
            shares[name][lever] = {m: round((decode_ms[before][m] - decode_ms[what][m]) / total[m], 3)
                                   if total[m] else None for m in ref}
            before = what
    flops = {m: train_flops_per_sample(m, args.backbone) for m in methods}
    demand = {m: {str(mfu): mfu * args.peak / f for mfu in args.mfu} for m, f in flops.items()}
    cores = {what: {m: {mfu: round(rate * costs[m] / 1e3, 1) for mfu, rate in demand[m].items()} for m in flops}
             for what, costs in decode_ms.items()}
    default = f"{DEFAULT_PROFILE}, all levers"
    report = {
        "cpu": f"{cpu_model()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; "
               "CPU time of one thread",
        "input": f"{args.videos} Kinetics-like H.264 files, {width}x{height}, {args.frames} frames at 25 fps, a "
                 "keyframe every 150, B-frames, each transcoded by transcode_tree with every profile; "
                 f"{args.samples} samples per method and configuration, best of {args.rounds} interleaved rounds",
        "default_profile": DEFAULT_PROFILE, "reference": "gop16 files read as before the levers (RGB out, clips "
        "gathered from the decoded union, stream analysis on every open)",
        "profiles": profiles, "configurations": configs,
        "decode_ms_per_sample": decode_ms, "speedup_over_reference": speedup, "lever_shares": shares,
        "targets": {m: {"target": t, "speedup": speedup[default][m], "met": speedup[default][m] >= t}
                    for m, t in TARGETS.items()},
        "train_gflops_per_sample": {m: round(f / 1e9, 1) for m, f in flops.items()},
        "assumed": f"a GPU of dense bf16 peak {args.peak / 1e12:.0f} TFLOP/s{assumed_variant(args.peak)} at MFU "
                   f"{args.mfu} (assumed, not measured)",
        "gpu_samples_per_s": {m: {k: round(v) for k, v in d.items()} for m, d in demand.items()},
        "cores_per_gpu": cores,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    if args.table:
        print_tables(report, methods, args.mfu[-1])


def print_tables(report: dict, methods: list[str], mfu: float) -> None:
    ms, speedup, cores = report["decode_ms_per_sample"], report["speedup_over_reference"], report["cores_per_gpu"]
    rows = ["reference", *(f"{p}, all levers" for p in report["profiles"]), *(
        w for w in ms if w != "reference" and w not in (f"{p}, all levers" for p in report["profiles"]))]
    print("\n| configuration | " + " | ".join(f"{m} ms (x)" for m in methods) + " | finetune ms |")
    print("|---" * (len(methods) + 2) + "|")
    for what in rows:
        cells = [f"{ms[what][m]:.2f} ({speedup[what][m]:.2f}x)" for m in methods]
        print(f"| {what} | " + " | ".join(cells) + f" | {ms[what]['finetune']:.2f} |")
    print(f"\n| target (default profile, all levers) | {' | '.join(methods)} |")
    print("|---" * (len(methods) + 1) + "|")
    print("| speed-up / target | " + " | ".join(
        f"{t['speedup']:.2f}x / {t['target']}x {'met' if t['met'] else 'NOT met'}"
        for t in (report["targets"][m] for m in methods)) + " |")
    for name, steps in report["lever_shares"].items():
        print(f"\n| share of the saving, {name} | " + " | ".join(methods) + " |")
        print("|---" * (len(methods) + 1) + "|")
        for lever, by_method in steps.items():
            print(f"| {lever} | " + " | ".join("-" if by_method[m] is None else f"{by_method[m]:.0%}"
                                               for m in methods) + " |")
    print(f"\n| cores per GPU at MFU {mfu} | " + " | ".join(methods) + " |")
    print("|---" * (len(methods) + 1) + "|")
    for what in ["reference", *(f"{p}, all levers" for p, v in report["profiles"].items() if v["offered"])]:
        print(f"| {what} | " + " | ".join(f"{cores[what][m][str(mfu)]:.0f}" for m in methods) + " |")
    print("\n| profile | bytes/video | transcode CPU-s/video | luma PSNR dB | Kinetics-400: disk GB | "
          "transcode CPU-hours |")
    print("|---|---|---|---|---|---|")
    for name, p in report["profiles"].items():
        k = p["kinetics400"]
        print(f"| {name}{'' if p['offered'] else ' (measured only)'} | {p['bytes_per_video']:,} | "
              f"{p['transcode_cpu_s_per_video']:.2f} | {p['luma_psnr_db']:.2f} | {k['disk_gb']:,} | "
              f"{k['transcode_cpu_hours']:,} |")


if __name__ == "__main__":
    main()
