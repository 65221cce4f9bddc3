"""What an accelerator achieved, measured the same way by every benchmark script.

- ``device_peak`` / ``peak_flops``: the device's dense bf16 peak (the MFU denominator), the vendor's
  figure for its variant (H100 SXM, PCIe and NVL differ), matched by the CUDA device name; a name no
  entry matches has no peak (``resolve_peak`` then asks for ``--peak``) rather than a guessed one;
- ``counted_flops``: the FLOPs of everything a call executes, backward included: torch's counter sees
  autograd, so a no-grad key or target encoder adds its forward only, and a trained module forward
  plus backward;
- ``KernelTime``: kernel time over wall time from the profiler, the measured busy fraction (CUDA only).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable

import torch

PEAK_BF16_DENSE: list[tuple[str, str, float]] = [
    # (variant, pattern searched in the CUDA device name, dense bf16 tensor-core FLOP/s, without 2:4
    # sparsity); first match wins, so GH200 comes before H200 and each variant before its family
    ("GH200", r"\bGH200\b", 989e12),
    ("H100 NVL", r"\bH100\b.*\bNVL\b", 835e12),
    ("H100 PCIe", r"\bH100\b.*\bPCIe\b", 756e12),
    ("H100 SXM", r"\bH100\b.*\b(SXM\w*|HBM3)\b", 989e12),  # "NVIDIA H100 80GB HBM3"
    ("H200 NVL", r"\bH200\b.*\bNVL\b", 835e12),
    ("H200 SXM", r"\bH200\b", 989e12),  # "NVIDIA H200": SXM and NVL are its only variants
    ("H800 PCIe", r"\bH800\b.*\bPCIe\b", 756e12),
    ("H800 SXM", r"\bH800\b", 989e12),
    ("A100", r"\bA100\b", 312e12),  # SXM4 and PCIe alike
    ("L40S", r"\bL40S\b", 362e12),
    ("A10", r"\bA10\b", 125e12),  # not the A10G, which has no entry
]
NOT_ON_CPU = "not measurable on CPU (no kernel timeline; see the step and loader figures)"


def device_peak(name: str) -> tuple[str, float] | None:
    """``(variant, dense bf16 FLOP/s)`` of the CUDA device called ``name``; None when no entry matches."""
    return next(((variant, peak) for variant, pattern, peak in PEAK_BF16_DENSE
                 if re.search(pattern, name, flags=re.IGNORECASE)), None)


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    known = device_peak(torch.cuda.get_device_name(device))
    return known[1] if known else None


def resolve_peak(device: torch.device, given: float | None) -> tuple[float | None, str]:
    """The MFU denominator and where it comes from: ``--peak`` when given, else the device's entry.
    A GPU with no entry and no ``--peak`` stops the script: an MFU against a guessed peak is no figure."""
    if given:
        return given, f"{given / 1e12:.0f} TFLOP/s dense bf16, given with --peak"
    if device.type != "cuda":
        return None, "no bf16 tensor-core peak on a CPU"
    name = torch.cuda.get_device_name(device)
    known = device_peak(name)
    if known is None:
        raise SystemExit(f"no dense bf16 peak is known for the device {name!r}: pass --peak with its vendor "
                         "figure in FLOP/s (dense, not the 2:4-sparse one), e.g. --peak 989e12 for an H100 SXM")
    return known[1], f"{known[1] / 1e12:.0f} TFLOP/s dense bf16 ({known[0]}, matched from {name!r})"


def counted_flops(run: Callable[[], object]) -> float:
    """FLOPs of everything ``run()`` executes, backward included."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        run()
    return float(counter.get_total_flops())


def union_seconds(intervals: Iterable[tuple[float, float]]) -> float:
    """Length of the union of ``(start, end)`` intervals in microseconds, in seconds."""
    busy, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            busy += b - max(a, end)
            end = b
    return busy / 1e6


class KernelTime:
    """Profiles CUDA kernels between ``start()`` and ``stop()``; ``busy_fraction`` is the time some
    kernel ran (the union of their intervals) over the wall time between the two calls."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.busy_fraction: float | None = None
        self._profile = None
        self._start = 0.0

    def start(self) -> None:
        if not self.cuda:
            return
        from torch.profiler import ProfilerActivity, profile

        torch.cuda.synchronize()
        self._profile = profile(activities=[ProfilerActivity.CUDA])
        self._profile.__enter__()
        self._start = time.perf_counter()

    def stop(self) -> None:
        if self._profile is None:
            return
        torch.cuda.synchronize()
        wall = time.perf_counter() - self._start
        self._profile.__exit__(None, None, None)
        kernels = [(e.time_range.start, e.time_range.end) for e in self._profile.events()
                   if e.device_type.name == "CUDA"]
        self.busy_fraction = round(union_seconds(kernels) / wall, 3) if wall > 0 else None
        self._profile = None

    def report(self) -> float | str | None:
        return self.busy_fraction if self.cuda else NOT_ON_CPU


def busy_fraction(run: Callable[[], object], steps: int, device: torch.device) -> float | None:
    """Kernel time over wall time across ``steps`` calls of ``run`` (GPU only)."""
    if device.type != "cuda":
        return None
    watch = KernelTime(device)
    watch.start()
    for _ in range(steps):
        run()
    watch.stop()
    return watch.busy_fraction
