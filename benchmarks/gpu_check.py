"""The first-GPU check: what an accelerator does with this package, in at most about five minutes.

Run it the first time a GPU is available and copy its figures into README's performance section:

    python benchmarks/gpu_check.py                 # on the GPU machine (bf16 where supported)
    python benchmarks/gpu_check.py --smoke         # CPU, tiny sizes: checks the script (CI runs this)

It measures, and prints as one JSON document:

- ``backbones``: each backbone's training step at the paper input, with and without channels-last 3D
  and cuDNN autotuning: seconds per step, achieved TFLOP/s (forward + backward FLOPs counted by
  torch's FLOP counter during a real step) and MFU against the device's dense bf16 peak;
- ``methods``: one training step of each method split into host-to-device transfer, augmentation,
  forward (pretext loss) and backward + optimiser step (CUDA events; host clocks on CPU), the FLOPs of
  the whole step (a no-grad key encoder's backward is not counted because it does not run), MFU, and
  the measured busy fraction of the device (kernel time over wall time, from the profiler);
- ``syncs``: host-device synchronisations inside a training step, as
  ``torch.cuda.set_sync_debug_mode("warn")`` reports them (CPU: not measurable; the test suite's
  host-read watch covers it);
- ``lightning``: the wall time of the same steps through ``Trainer.fit`` against a bare PyTorch loop,
  like for like: the same memory layout (channels-last 3D on a GPU, weights and input, as
  ``on_fit_start`` sets it; contiguous on CPU), the same precision (bf16 autocast around the forward,
  as ``bf16-mixed``, or fp32), augmentation outside the autocast as Lightning runs it, both after two
  untimed warm-up steps; the row states layout and precision;
- ``decode``: CPU decode time per sample of each method on a Kinetics-like H.264 clip (340x256, a
  keyframe every 150 frames), and the decoding cores one GPU needs at the measured training rate;
  PyAV's NVDEC decode of the same clip where the build has it.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from device_figures import NOT_ON_CPU, busy_fraction, counted_flops, resolve_peak
from kinetics_like import decode_costs, kinetics_like_videos, paper_samplers

from vssl_bench.backbones import build_backbone
from vssl_bench.data.sampling import sample_or_wrap
from vssl_bench.methods import METHODS

PAPER_INPUT = {"c3d": (16, 112), "r3d10": (16, 112), "r21d10": (16, 112), "r3d18": (16, 112), "s3dg": (64, 224)}
SMALL = {"rspnet": {"queue_size": 256}, "ascnet": {"bank_size": 256}, "pace": {}, "prp": {}}


class Clock:
    """Elapsed seconds between marks: CUDA events on a GPU (no host wait until read), host time on CPU."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.marks: list[Any] = []

    def mark(self) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append(event)
        else:
            self.marks.append(time.perf_counter())

    def spans(self) -> list[float]:
        if self.cuda:
            torch.cuda.synchronize()
            return [a.elapsed_time(b) / 1e3 for a, b in zip(self.marks, self.marks[1:])]
        return [b - a for a, b in zip(self.marks, self.marks[1:])]


def autocast(device: torch.device, precision: str):
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


# --- backbones ---------------------------------------------------------------------------------
def backbone_step(net: torch.nn.Module, x: torch.Tensor, device: torch.device, precision: str):
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def step() -> None:
        with autocast(device, precision):
            loss = net(x).float().pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def backbone_rows(device: torch.device, smoke: bool, precision: str, batch: int, steps: int,
                  peak: float | None) -> list[dict]:
    names = ["r3d10"] if smoke else list(PAPER_INPUT)
    rows = []
    for name in names:
        frames, size = (4, 32) if smoke else PAPER_INPUT[name]
        for channels_last in (False, True):
            for autotune in (False, True):
                if device.type == "cuda":
                    torch.backends.cudnn.benchmark = autotune
                elif autotune:
                    continue  # cuDNN autotuning has no CPU meaning
                net = build_backbone(name, width=0.125 if smoke else 1.0).to(device)
                x = torch.randn(batch, 3, frames, size, size, device=device)
                if channels_last:
                    net = net.to(memory_format=torch.channels_last_3d)
                    x = x.contiguous(memory_format=torch.channels_last_3d)
                step = backbone_step(net, x, device, precision)
                flops = counted_flops(step)
                clock = Clock(device)
                for _ in range(2):
                    step()
                clock.mark()
                for _ in range(steps):
                    step()
                clock.mark()
                seconds = clock.spans()[0] / steps
                rows.append({"backbone": name, "input": f"{batch}x3x{frames}x{size}x{size}", "channels_last": channels_last,
                             "cudnn_autotune": autotune, "s_per_step": round(seconds, 5),
                             "tflops_per_s": round(flops / seconds / 1e12, 3),
                             "mfu": round(flops / seconds / peak, 3) if peak else None})
    return rows


# --- methods -----------------------------------------------------------------------------------
def method_batch(method, batch: int, frame: tuple[int, int], rng: np.random.Generator,
                 pixels: str = "yuv420p") -> dict[str, Any]:
    """A uint8 batch shaped as the loader delivers it, with the method's own targets: by default 4:2:0
    planes stored at ``frame`` with an even width (128x170 for 128x171, as transcoded Kinetics is),
    which the method's augmentation converts and resizes to ``frame`` (``pixels="rgb24"``: RGB frames)."""
    items = [sample_or_wrap(method.sampler, 64, rng) for _ in range(batch)]  # shapes and targets only
    clips = len(items[0][0])
    length = len(items[0][0][0])
    if pixels == "yuv420p":
        stored = (frame[0] & ~1, frame[1] & ~1)
        planes = torch.randint(0, 256, (batch, clips, length, stored[0] * stored[1] * 3 // 2), dtype=torch.uint8)
        video = {"yuv420p": planes, "stored_size": [stored] * batch, "frame_size": tuple(frame)}
    else:
        video = {"video": torch.randint(0, 256, (batch, clips, length, *frame, 3), dtype=torch.uint8)}
    targets = {k: torch.stack([torch.as_tensor(t[k]) for _, t in items]) for k in items[0][1]}
    return video | {"targets": targets, "index": torch.arange(batch), "label": torch.zeros(batch, dtype=torch.long),
            "skipped": torch.zeros(batch, dtype=torch.long), "valid": torch.ones(batch, dtype=torch.bool)}


def to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch.to(device, non_blocking=True) if torch.is_tensor(batch) else batch


def method_step(method, host: dict[str, Any], device: torch.device, precision: str):
    """One training step from a host batch; marks a clock between transfer, augmentation, forward and
    backward + optimiser step when given one."""
    optimizer = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.01, momentum=0.9)

    def step(clock: Clock | None = None) -> None:
        mark = clock.mark if clock else (lambda: None)
        mark()
        on_device = to_device(host, device)
        mark()
        with autocast(device, precision):
            augmented = method.on_after_batch_transfer(dict(on_device), 0)
            mark()
            loss = method.pretext_step(augmented)["loss"]
        mark()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        mark()

    return step


def method_rows(device: torch.device, smoke: bool, precision: str, batch: int, steps: int,
                peak: float | None) -> tuple[list[dict], dict]:
    rng = np.random.default_rng(0)
    rows, syncs = [], {}
    clip_len, crop, frame = (4, 32, (40, 50)) if smoke else (16, 112, (128, 171))
    for name in METHODS:
        method = METHODS[name](backbone="r3d10" if smoke else "r3d18", backbone_width=0.125 if smoke else 1.0,
                               clip_len=clip_len, crop_size=crop, channels_last=not smoke,
                               **(SMALL[name] if smoke else {})).to(device)
        if method.uses_channels_last:  # what on_fit_start does in a Lightning run
            method.backbone.to(memory_format=torch.channels_last_3d)
        host = method_batch(method, batch, frame, rng)
        if device.type == "cuda":
            host = {k: v.pin_memory() if torch.is_tensor(v) else v for k, v in host.items()}
        step = method_step(method, host, device, precision)
        flops = counted_flops(step)
        for _ in range(2):
            step()
        clocks = [Clock(device) for _ in range(steps)]
        for clock in clocks:
            step(clock)
        spans = np.asarray([clock.spans() for clock in clocks])  # read after the loop: one wait at the end
        transfer, augment, forward, backward = spans.mean(0)
        total = float(spans.sum(1).mean())
        rows.append({"method": name, "batch": batch, "transfer_s": round(float(transfer), 5),
                     "augment_s": round(float(augment), 5), "forward_s": round(float(forward), 5),
                     "backward_step_s": round(float(backward), 5), "step_s": round(total, 5),
                     "train_flops_per_step": flops, "mfu": round(flops / total / peak, 3) if peak else None,
                     "busy_fraction": busy_fraction(step, steps, device),  # its own, untimed window
                     "samples_per_s": round(batch / total, 1)})
        syncs[name] = sync_count(step, device)
    return rows, syncs


def sync_count(step, device: torch.device) -> int | str:
    if device.type != "cuda":
        return NOT_ON_CPU + "; tests/test_host_syncs.py watches host reads instead"
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            step()
        return sum("synchroniz" in str(w.message) for w in caught)
    finally:
        torch.cuda.set_sync_debug_mode("default")


# --- Lightning's overhead ------------------------------------------------------------------------
def lightning_row(device: torch.device, smoke: bool, batch: int, steps: int, precision: str) -> dict:
    """The same steps of one method through a bare loop and through ``Trainer.fit``, like for like."""
    import pytorch_lightning as pl

    name, channels_last = "pace", device.type == "cuda"
    lightning_precision = {"bf16": "bf16-mixed", "fp16": "16-mixed"}.get(precision, "32-true")
    method = METHODS[name](backbone="r3d10", backbone_width=0.125 if smoke else 1.0, clip_len=4 if smoke else 16,
                           crop_size=32 if smoke else 112, channels_last=channels_last).to(device)
    if method.uses_channels_last:  # what on_fit_start does before the Lightning run: weights channels-last too
        method.backbone.to(memory_format=torch.channels_last_3d)
    host = method_batch(method, batch, (40, 50) if smoke else (128, 171), np.random.default_rng(1))
    loader = torch.utils.data.DataLoader([host] * (steps + 2), batch_size=None)
    optimizer = torch.optim.SGD(method.parameters(), lr=0.01)

    def bare_step(b: dict[str, Any]) -> None:
        augmented = method.on_after_batch_transfer(to_device(b, device), 0)  # outside autocast, as in Lightning
        with autocast(device, precision):
            loss = method.pretext_step(augmented)["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(2):  # warm-up (cuDNN plans, allocator), as the Lightning run below gets from this loop
        bare_step(host)
    if device.type == "cuda":
        torch.cuda.synchronize()
    bare_start = time.perf_counter()
    for b in loader:
        bare_step(b)
    if device.type == "cuda":
        torch.cuda.synchronize()
    bare = time.perf_counter() - bare_start
    trainer = pl.Trainer(accelerator=device.type if device.type == "cuda" else "cpu", devices=1, max_steps=steps + 2,
                         logger=False, enable_progress_bar=False, enable_checkpointing=False,
                         enable_model_summary=False, precision=lightning_precision)
    start = time.perf_counter()
    trainer.fit(method, train_dataloaders=loader)
    through = time.perf_counter() - start
    layout = "channels-last 3D (weights and input)" if method.uses_channels_last else "contiguous (NCDHW)"
    return {"method": name, "steps": steps + 2, "memory_layout": f"{layout}, both runs",
            "precision": f"{lightning_precision} / autocast {precision} around the forward, both runs",
            "bare_loop_s": round(bare, 3), "lightning_fit_s": round(through, 3),
            "overhead": round(through / bare - 1, 3) if bare > 0 else None}


# --- decoding supply ------------------------------------------------------------------------------
def decode_row(tmp: Path, smoke: bool, samples_per_s: dict[str, float]) -> dict:
    """CPU milliseconds per sample on Kinetics-like H.264 (340x256, a keyframe every 150) for each
    method's paper sampler, and the decoding cores one GPU needs at the measured training rate."""
    width, height, frames = (86, 64, 64) if smoke else (340, 256, 250)
    paths = kinetics_like_videos(tmp, 1 if smoke else 4, width, height, frames, gop=150)
    out: dict[str, Any] = {"clip": f"{frames} frames {width}x{height} H.264, keyframe every 150",
                           "per_sample_ms": decode_costs(paths, paper_samplers(), 2 if smoke else 40)}
    # cores kept busy decoding = samples per second the GPU trains x CPU seconds per sample
    out["cores_per_gpu"] = {m: round(samples_per_s[m] * out["per_sample_ms"][m] / 1e3, 1)
                            for m in samples_per_s if m in out["per_sample_ms"]}
    out["nvdec"] = nvdec_note(Path(paths[0]))
    return out


def nvdec_note(path: Path) -> str:
    try:
        import av
        from av.codec.hwaccel import HWAccel

        start = time.perf_counter()
        with av.open(str(path), hwaccel=HWAccel(device_type="cuda", allow_software_fallback=False)) as container:
            count = sum(1 for _ in container.decode(video=0))
        return f"{count} frames in {time.perf_counter() - start:.3f} s"
    except Exception as exc:  # noqa: BLE001 - a build without NVDEC is a finding, not a failure
        return f"not available: {type(exc).__name__}: {exc}"[:200]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny sizes: checks the script, measures nothing")
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--peak", type=float, default=None,
                        help="dense bf16 FLOP/s for the MFU (default: the device's entry in device_figures)")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    precision = "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "32"
    batch = args.batch or (2 if args.smoke else 32)
    steps = args.steps or (2 if args.smoke else 20)
    peak, peak_source = resolve_peak(device, args.peak)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else f"cpu ({len(os.sched_getaffinity(0))} cores)",
        "precision": precision, "smoke": args.smoke, "torch": torch.__version__,
        "peak_bf16_dense_tflops": peak / 1e12 if peak else None, "peak": peak_source,
    }
    report["backbones"] = backbone_rows(device, args.smoke, precision, batch, steps, peak)
    report["methods"], report["syncs"] = method_rows(device, args.smoke, precision, batch, steps, peak)
    report["lightning"] = lightning_row(device, args.smoke, batch, steps, precision)
    with tempfile.TemporaryDirectory() as tmp:
        rates = {row["method"]: row["samples_per_s"] for row in report["methods"]}
        report["decode"] = decode_row(Path(tmp), args.smoke, rates)
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
