"""Building Lightning trainers for a run: the engineering options, the run's context, logging, CPU threads.

Everything here is the same for every stage of every method; a stage adds only its epochs, callbacks
and batch plan.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.environments import SLURMEnvironment
from pytorch_lightning.loggers import CSVLogger

from vssl_bench.bench.batching import BatchPlan, world_size
from vssl_bench.bench.checkpointing import EpochDraws
from vssl_bench.errors import ConfigError


@dataclass
class TrainerOptions:
    """Engineering options passed to every Lightning ``Trainer`` of a run (the recipe holds the rest)."""

    accelerator: str = "auto"
    devices: int | str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str | None = None
    logger: str = "csv"  # csv or wandb (offline unless WANDB_MODE says otherwise)
    progress_bar: bool = False
    max_epochs: int | None = None  # override the recipe's epochs (all stages)
    # Lightning's batch limits (an int: batches, a float: a fraction), for smoke runs of the paper scale
    limit_train_batches: int | float | None = None
    limit_val_batches: int | float | None = None
    limit_test_batches: int | float | None = None
    num_workers: int | None = None  # override the recipes' loader processes per device (all stages)
    # a memory cap: a per-device batch above it is split into accumulated steps (the global batch stays)
    max_per_device_batch: int | None = None


@dataclass
class RunContext:
    scale: str = "quick"
    data_root: str | None = None
    results: Path = Path("results")
    seed: int = 0
    trainer: TrainerOptions = field(default_factory=TrainerOptions)
    checkpoint_format: str = "auto"  # of a --checkpoint to evaluate: auto, ours, rspnet or prp
    cores: int | None = None  # CPU cores this run may use (a sweep running N cells at once gives each 1/N)

    @property
    def runs(self) -> Path:
        return self.results / "runs"

    @property
    def work(self) -> Path:
        return self.results / "work"

    @property
    def world_size(self) -> int:
        return world_size(self.trainer.devices, self.trainer.num_nodes, self.trainer.accelerator)


def on_cpu(ctx: RunContext) -> bool:
    return ctx.trainer.accelerator == "cpu" or (ctx.trainer.accelerator == "auto" and not torch.cuda.is_available())


def rank_cores(ctx: RunContext) -> int:
    """The CPU cores this process's rank may use. A task that srun started for one device holds its
    ``--cpus-per-task`` (``SLURM_CPUS_PER_TASK``; its affinity where Slurm binds tasks to cores); a
    process that starts its node's ranks itself shares the node's cores (or the sweep's ``ctx.cores``)
    among its devices."""
    if os.environ.get("SLURM_STEP_ID") is not None and os.environ.get("SLURM_CPUS_PER_TASK", "").isdigit():
        return max(1, min(int(os.environ["SLURM_CPUS_PER_TASK"]), len(os.sched_getaffinity(0))))
    local_devices = world_size(ctx.trainer.devices, 1, ctx.trainer.accelerator)
    return max(1, (ctx.cores or len(os.sched_getaffinity(0))) // local_devices)


def share_cpu(ctx: RunContext, num_workers: int) -> None:
    """On CPU, leave one core per loader worker: torch's default of one thread per core fights the
    decoding workers (on 2 cores, 1 thread + 2 workers trains 25% faster than 2 + 2). A run given
    ``ctx.cores`` (one of several cells a sweep runs at once) keeps to those."""
    if on_cpu(ctx):
        torch.set_num_threads(max(1, rank_cores(ctx) - num_workers))


# Lightning messages that say nothing about this run: advertising, and notices about choices this
# package makes on purpose (pretext modules have no validation step; augmentation lives in the module).
LIGHTNING_NOISE = (
    r"You passed in a `val_dataloader` but have no `validation_step`",
    r"You have overridden `on_after_batch_transfer` in `LightningModule` but have passed in a `LightningDataModule`",
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",  # torch deprecation inside Lightning itself
    # where Slurm's client is installed: we start the processes ourselves (the slurm launcher runs srun)
    r"The `srun` command is available on your system but is not used",
    # the stage's checkpoint folder holds its last.ckpt and its selected epoch: two writers on purpose
    r"Checkpoint directory .* exists and is not empty",
)


class _WarningsOnly(logging.Filter):
    """Lets Lightning's warnings through and drops its information lines ("GPU available: False",
    "Seed set to 0", "`Trainer.fit` stopped", product tips): each says what this package chose on
    purpose and none asks the user to act; the sweep's own status lines say what runs where. A GPU
    present but unused still reaches the user: Lightning says it as a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO


def quiet_lightning() -> None:
    """Silence Lightning's information lines and the notices above; every other warning stays."""
    for pattern in LIGHTNING_NOISE:
        warnings.filterwarnings("ignore", message=pattern)
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero",
                 "lightning_fabric.utilities.seed"):
        log_ = logging.getLogger(name)
        if not any(isinstance(f, _WarningsOnly) for f in log_.filters):
            log_.addFilter(_WarningsOnly())


def resolve_precision(requested: str | None, ctx: RunContext) -> str:
    """``auto``: bf16-mixed on a GPU that supports it (16-mixed on one that does not), 32-true on a CPU."""
    if requested not in (None, "auto"):
        return str(requested)
    if on_cpu(ctx) or not torch.cuda.is_available():
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


def make_trainer(ctx: RunContext, workdir: Path, epochs: int, plan: BatchPlan | None = None,
                 precision: str = "auto", **extra: Any) -> pl.Trainer:
    """A Trainer for one stage: the run's engineering options, the stage's epochs, and its batch plan
    (gradient accumulation, synchronised BatchNorm)."""
    quiet_lightning()
    opts = ctx.trainer
    workdir.mkdir(parents=True, exist_ok=True)
    if opts.logger == "wandb":
        from pytorch_lightning.loggers import WandbLogger

        os.environ.setdefault("WANDB_MODE", "offline")
        logger = WandbLogger(save_dir=str(workdir), project="vssl-bench", name=workdir.parent.name + "/" + workdir.name)
    elif opts.logger == "csv":
        logger = CSVLogger(str(workdir), name="logs")
    else:
        raise ConfigError(f"logger={opts.logger!r}: use csv or wandb.")
    kwargs: dict[str, Any] = dict(
        accelerator=opts.accelerator, devices=opts.devices, num_nodes=opts.num_nodes, strategy=opts.strategy,
        max_epochs=opts.max_epochs or epochs, logger=logger, default_root_dir=str(workdir),
        enable_progress_bar=opts.progress_bar, enable_model_summary=False,
        log_every_n_steps=1 if ctx.scale == "quick" else 10,  # a quick epoch has fewer than 10 batches
        num_sanity_val_steps=0,
    )
    kwargs["precision"] = resolve_precision(opts.precision or precision, ctx)  # the command line wins
    kwargs["benchmark"] = not on_cpu(ctx)  # cuDNN autotuning: clip shapes are fixed within a stage
    if plan is not None:
        kwargs["accumulate_grad_batches"] = plan.accumulation
        kwargs["sync_batchnorm"] = plan.sync_batchnorm
    kwargs["callbacks"] = [*extra.pop("callbacks", []), FirstStepLR(), EpochDraws(ctx.seed)]
    if SLURMEnvironment.detect():  # the batch script requeues the job (bench/slurm.py): one way, not two
        kwargs["plugins"] = [SLURMEnvironment(auto_requeue=False)]
    for limit in ("limit_train_batches", "limit_val_batches", "limit_test_batches"):
        if getattr(opts, limit) is not None:
            kwargs[limit] = getattr(opts, limit)
    kwargs.update(extra)
    return pl.Trainer(**kwargs)


def finish_logger(ctx: RunContext) -> None:
    """Close the stage's wandb run, so the next stage gets a run of its own rather than appending
    to this one (Lightning reuses an open run)."""
    if ctx.trainer.logger == "wandb":
        import wandb

        if wandb.run is not None:
            wandb.finish()



class FirstStepLR(pl.Callback):
    """Remembers the learning rate of the first optimiser step (for the record and the DDP check)."""

    def __init__(self) -> None:
        self.lr: float | None = None

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        if self.lr is None and trainer.optimizers:
            self.lr = float(trainer.optimizers[0].param_groups[0]["lr"])
