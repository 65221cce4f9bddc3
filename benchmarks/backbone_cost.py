"""Per backbone: parameters, GFLOPs per clip at the paper input size, CPU forward+backward time.

On a CUDA machine it also measures the bf16 training-step throughput (clips/s) with and without
channels-last 3D. Prints one JSON document. Usage: python benchmarks/backbone_cost.py [--batch 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from vssl_bench.backbones import build_backbone, list_backbones

PAPER_INPUT = {"c3d": (16, 112, 112), "r3d10": (16, 112, 112), "r21d10": (16, 112, 112),
               "r3d18": (16, 112, 112), "s3dg": (64, 224, 224)}


def gflops(name: str) -> float:
    with torch.device("meta"):
        model = build_backbone(name)
        x = torch.empty(1, 3, *PAPER_INPUT[name])
        with FlopCounterMode(display=False) as counter:
            model(x)
    return counter.get_total_flops() / 1e9


def step_time(model: torch.nn.Module, x: torch.Tensor, repeats: int, autocast: torch.dtype | None) -> float:
    device = x.device.type
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

    def step():
        with torch.autocast(device, dtype=autocast, enabled=autocast is not None):
            loss = model(x).float().pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(2):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=2, help="CPU batch (clips)")
    parser.add_argument("--cpu-input", default="16,112,112", help="T,H,W of the CPU timing")
    parser.add_argument("--gpu-batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    t, h, w = (int(v) for v in args.cpu_input.split(","))
    report = {"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
              "cpu_threads": torch.get_num_threads(), "cpu_batch": args.batch, "cpu_input": [t, h, w],
              "backbones": {}}
    for name in list_backbones():
        model = build_backbone(name)
        row = {
            "params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "paper_input": list(PAPER_INPUT[name]),
            "gflops_per_clip": round(gflops(name), 2),
            "cpu_fwd_bwd_s": round(step_time(model, torch.randn(args.batch, 3, t, h, w), args.repeats, None), 3),
        }
        if torch.cuda.is_available():
            for channels_last in (False, True):
                net = build_backbone(name).cuda()
                x = torch.randn(args.gpu_batch, 3, *PAPER_INPUT[name], device="cuda")
                if channels_last:
                    net, x = net.to(memory_format=torch.channels_last_3d), x.to(memory_format=torch.channels_last_3d)
                seconds = step_time(net, x, 10, torch.bfloat16)
                row[f"gpu_bf16_clips_per_s{'_channels_last' if channels_last else ''}"] = round(args.gpu_batch / seconds, 1)
        report["backbones"][name] = row
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
