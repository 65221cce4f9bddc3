"""What an accelerator achieved, measured the same way by every benchmark script.

- ``peak_flops``: the device's dense bf16 peak (the MFU denominator), from its name;
- ``counted_flops``: the FLOPs of everything a call executes, backward included: torch's counter sees
  autograd, so a no-grad key or target encoder adds its forward only, and a trained module forward
  plus backward;
- ``KernelTime``: kernel time over wall time from the profiler, the measured busy fraction (CUDA only).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import torch

PEAK_BF16_DENSE = {"H100": 989e12, "H200": 989e12, "H800": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}
NOT_ON_CPU = "not measurable on CPU (no kernel timeline; see the step and loader figures)"


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16_DENSE.items() if key in name), None)


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
