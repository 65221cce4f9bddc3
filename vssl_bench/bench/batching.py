"""The paper's global batch at any device count.

A recipe states each stage's *global* batch (what the paper's run put through one optimiser step) and
the number of GPUs the authors used. At run time the batch is split over the world size:

    global batch = per-device batch x devices x gradient-accumulation steps

so 8 GPUs train the same model as one (the same number of steps, the same LR). Accumulation is used
only when a per-device cap asks for it; a world size that does not divide the global batch is an
error that lists the device counts that do.

BatchNorm: each device normalises over its own slice. Where that slice is smaller than what one of
the authors' GPUs saw (PRP's batch of 8 on one GPU, split over 8 devices, leaves one video per
device), BatchNorm is synchronised across the devices (Lightning's ``sync_batchnorm``), so it sees
the official group again. Methods with their own BatchNorm grouping (RSPNet's shuffling BN) keep it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from vssl_bench.errors import ConfigError


@dataclass(frozen=True)
class BatchPlan:
    global_batch: int
    per_device: int
    devices: int
    accumulation: int
    paper_per_gpu: int  # videos one of the authors' GPUs normalised over
    sync_batchnorm: bool
    sync_wanted: bool = False  # a device sees fewer videos than a paper GPU did (synchronised where possible)

    def describe(self) -> str:
        split = f"{self.per_device} x {self.devices} device{'s' if self.devices > 1 else ''}"
        if self.accumulation > 1:
            split += f" x {self.accumulation} accumulated"
        if self.sync_batchnorm:
            bn = f"BatchNorm synchronised across {self.devices} devices (the paper's per-GPU batch: {self.paper_per_gpu})"
        elif self.sync_wanted:
            bn = (f"BatchNorm over {self.per_device} per device (the paper's per-GPU batch: {self.paper_per_gpu}; "
                  "CPU processes cannot synchronise it)")
        else:
            bn = f"BatchNorm over {self.per_device} per device"
        return f"global batch {self.global_batch} = {split}; {bn}"

    def record(self) -> dict[str, int | bool]:
        return asdict(self)


def world_size(devices: int | str | list[int], num_nodes: int = 1, accelerator: str = "auto") -> int:
    """The processes a Trainer with these options starts (``auto``: every visible GPU, else 1)."""
    if isinstance(devices, list):
        count = len(devices)
    elif isinstance(devices, int) and devices > 0:
        count = devices
    elif isinstance(devices, str) and devices.isdigit():
        count = int(devices)
    elif isinstance(devices, str) and "," in devices:
        count = len([d for d in devices.split(",") if d.strip()])
    elif devices in ("auto", -1, "-1"):
        count = torch.cuda.device_count() if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available() else 1
    else:
        raise ConfigError(f"trainer.devices={devices!r}: give a count (1, 8), a list of GPU ids, or auto.")
    return max(1, count) * max(1, num_nodes)


def plan_batch(global_batch: int, devices: int, paper_devices: int = 1, max_per_device: int | None = None,
               own_batchnorm_groups: bool = False, what: str = "batch_size", can_sync: bool = True) -> BatchPlan:
    """Split ``global_batch`` over ``devices``; ``can_sync``: SyncBatchNorm is available (GPUs, not CPU)."""
    if global_batch < 1:
        raise ConfigError(f"{what}={global_batch}: the global batch must be at least 1.")
    if global_batch % devices:
        fits = [d for d in range(1, global_batch + 1) if global_batch % d == 0]
        raise ConfigError(f"{what}: the paper's global batch {global_batch} cannot be split evenly over {devices} "
                          f"devices; run on {', '.join(map(str, fits))} devices instead.")
    per_device, accumulation = global_batch // devices, 1
    if max_per_device is not None and per_device > max_per_device:
        accumulation = next(a for a in range(2, per_device + 1) if per_device % a == 0 and per_device // a <= max_per_device)
        per_device //= accumulation
    paper_per_gpu = max(1, global_batch // max(1, paper_devices))
    wanted = devices > 1 and per_device < paper_per_gpu and not own_batchnorm_groups
    return BatchPlan(global_batch, per_device, devices, accumulation, paper_per_gpu, wanted and can_sync, wanted)
