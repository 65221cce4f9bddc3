"""Training throughput of one method + backbone, measured two ways in one run:

- ``model_only``: one batch made once, already on the device (uint8 clips as the loader delivers
  them), then augmentation + forward + backward + optimiser step, repeated;
- ``end_to_end``: the same step fed by the real ``VideoDataModule`` loader with N workers (uint8
  transfer, pinned memory on CUDA).

``gpu_busy`` = end_to_end / model_only: the fraction of the model-only rate that survives the
loader (1.0 = the device never waits for data). On CUDA it also reports the achieved TFLOP/s of
the model-only step (forward FLOPs from torch's counter x 3 for forward + backward).

The data is the built-in synthetic dataset rendered at ``--frame_size`` (cached under
``$VSSL_BENCH_CACHE``), or any dataset with ``--dataset``/``--root`` (e.g. a transcoded UCF101).

Usage (CPU, small):  python benchmarks/train_throughput.py --width 0.25 --crop 64 --frame_size 80,100
Usage (GPU):         python benchmarks/train_throughput.py --method rspnet --backbone r3d18 --batch 64 \\
                         --precision bf16 --channels_last --workers 16
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from contextlib import nullcontext

import torch

from vssl_bench.data.datamodule import VideoDataModule
from vssl_bench.data.synthetic import SyntheticSpec, ensure_synthetic
from vssl_bench.methods import METHODS


def build(args: argparse.Namespace, device: torch.device):
    method = METHODS[args.method](backbone=args.backbone, backbone_width=args.width, clip_len=args.clip_len,
                                  crop_size=args.crop, channels_last=args.channels_last, lr=0.01,
                                  **({"queue_size": 4096} if args.method == "rspnet" else {}))
    method.to(device)
    if method.uses_channels_last:  # what on_fit_start does in a Lightning run
        method.backbone.to(memory_format=torch.channels_last_3d)
    if args.compile:
        method.backbone = torch.compile(method.backbone)
    optimizer = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    return method, optimizer


def make_step(method, optimizer, device: torch.device, precision: str):
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16"
                else torch.autocast(device.type, dtype=torch.float16) if precision == "fp16" else nullcontext())
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def step(batch):
        with autocast:
            batch = method.on_after_batch_transfer(dict(batch), 0)  # the hook replaces "video"
            loss = method.pretext_step(batch)["loss"]
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return loss

    return step


def to_device(batch, device: torch.device):
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch.to(device, non_blocking=True) if torch.is_tensor(batch) else batch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(step, batches, warmup: int, steps: int, device: torch.device) -> float:
    """Seconds for ``steps`` steps after ``warmup`` untimed ones; ``batches`` yields device batches."""
    for _ in range(warmup):
        step(next(batches))
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step(next(batches))
    sync(device)
    return time.perf_counter() - start


def forward_flops(method, batch) -> float | None:
    try:
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter, torch.no_grad():
            method.pretext_step(method.on_after_batch_transfer(dict(batch), 0))
        return float(counter.get_total_flops())
    except Exception:  # noqa: BLE001 - the figure is optional
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="pace", choices=sorted(METHODS))
    parser.add_argument("--backbone", default="r3d18")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--clip_len", type=int, default=16)
    parser.add_argument("--crop", type=int, default=112)
    parser.add_argument("--frame_size", default="128,171")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--precision", default="32", choices=["32", "bf16", "fp16"])
    parser.add_argument("--channels_last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--root", default=None)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    frame_size = tuple(int(v) for v in args.frame_size.split(","))
    root = args.root
    if args.dataset == "synthetic" and root is None:  # rendered at the benchmark's frame size
        root = str(ensure_synthetic(SyntheticSpec(height=frame_size[0], width=frame_size[1])))

    method, optimizer = build(args, device)
    data = VideoDataModule(args.dataset, root, frame_size=frame_size, batch_size=args.batch,
                           num_workers=args.workers, repeat=100, pin_memory=True, sampler=method.sampler)
    data.setup("fit")
    loader = data.train_dataloader()
    first = to_device(next(iter(loader)), device)
    step = make_step(method, optimizer, device, args.precision)

    def same_batch():
        while True:
            yield first

    def from_loader():
        while True:
            for batch in loader:
                yield to_device(batch, device)

    model_s = timed(step, same_batch(), args.warmup, args.steps, device)
    e2e_s = timed(step, from_loader(), args.warmup, args.steps, device)
    clips = args.batch * first["video"].shape[1] * args.steps  # clips through the backbone's input
    report = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else f"cpu ({len(os.sched_getaffinity(0))} cores)",
        "method": args.method, "backbone": args.backbone, "width": args.width,
        "input": f"{first['video'].shape[1]} clips x {args.clip_len}x{args.crop}x{args.crop}",
        "batch": args.batch, "workers": args.workers, "precision": args.precision,
        "channels_last": args.channels_last, "compile": args.compile, "dataset": args.dataset,
        "frame_size": list(frame_size), "steps": args.steps,
        "model_only_clips_per_s": round(clips / model_s, 2),
        "end_to_end_clips_per_s": round(clips / e2e_s, 2),
        "gpu_busy": round(model_s / e2e_s, 3),
    }
    flops = forward_flops(method, first)
    if flops is not None:
        report["model_only_tflops_per_s"] = round(3 * flops * args.steps / model_s / 1e12, 3)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
