"""The sweep: for each cell, pretrain -> fine-tune (each downstream dataset) -> retrieval, then the
scratch baselines once per backbone. Every finished stage writes a record; a stage whose record says
``ok`` is skipped, so an interrupted sweep resumes where it stopped; a pretraining that was killed
resumes from its last Lightning checkpoint. A failing stage is recorded as failed with its error and
the sweep goes on; the summary and the exit status say what failed.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import time
import traceback
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.utilities import rank_zero_only

from vssl_bench.backbones import check_training_precision
from vssl_bench.bench.grids import Cell, grid
from vssl_bench.bench.recipes import experiments_dir, load_recipe
from vssl_bench.bench.records import device_name, now, read_record, versions, write_record
from vssl_bench.data.datamodule import VideoDataModule
from vssl_bench.errors import ConfigError
from vssl_bench.evaluation.checkpoints import checked_lightning_checkpoint, read_checkpoint
from vssl_bench.evaluation.finetune import FineTuner
from vssl_bench.evaluation.official_weights import PREFIXES, detect_layout
from vssl_bench.evaluation.retrieval import RetrievalEvaluator
from vssl_bench.methods import METHODS

log = logging.getLogger(__name__)

DATASET_DIRS = {"ucf101": "ucf101", "hmdb51": "hmdb51", "kinetics400": "kinetics400"}


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


@dataclass
class RunContext:
    scale: str = "quick"
    data_root: str | None = None
    results: Path = Path("results")
    seed: int = 0
    trainer: TrainerOptions = field(default_factory=TrainerOptions)
    checkpoint_format: str = "auto"  # of a --checkpoint to evaluate: auto, ours, rspnet or prp

    @property
    def runs(self) -> Path:
        return self.results / "runs"

    @property
    def work(self) -> Path:
        return self.results / "work"


def dataset_root(name: str, ctx: RunContext) -> str | None:
    if name == "synthetic":
        return None
    if ctx.data_root is None:
        raise ConfigError(f"the {ctx.scale} scale reads {name}: pass --data_root (DATA=... for make).")
    return str(Path(ctx.data_root) / DATASET_DIRS[name])


def checked_arguments(cls: type, arguments: dict[str, Any], section: str) -> dict[str, Any]:
    """``arguments`` if ``cls`` (and its bases) accept every key; else a ConfigError naming the keys."""
    accepted: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            accepted |= set(inspect.signature(init).parameters) - {"self", "args", "kwargs"}
    unknown = sorted(set(arguments) - accepted)
    if unknown:
        raise ConfigError(f"recipe section {section!r} has unknown key(s) {unknown} for {cls.__name__}; "
                          f"accepted: {', '.join(sorted(accepted))}.")
    return arguments


def loader_workers(recipe: dict[str, Any], ctx: RunContext) -> int:
    if ctx.trainer.num_workers is not None:
        return ctx.trainer.num_workers
    return recipe["data"].get("num_workers", 2)


def on_cpu(ctx: RunContext) -> bool:
    return ctx.trainer.accelerator == "cpu" or (ctx.trainer.accelerator == "auto" and not torch.cuda.is_available())


def share_cpu(ctx: RunContext, num_workers: int) -> None:
    """On CPU, leave one core per loader worker: torch's default of one thread per core fights the
    decoding workers (on 2 cores, 1 thread + 2 workers trains 25% faster than 2 + 2)."""
    if on_cpu(ctx):
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) - num_workers))


# Lightning messages that say nothing about this run: advertising, and notices about choices this
# package makes on purpose (pretext modules have no validation step; augmentation lives in the module).
LIGHTNING_NOISE = (
    r"You passed in a `val_dataloader` but have no `validation_step`",
    r"You have overridden `on_after_batch_transfer` in `LightningModule` but have passed in a `LightningDataModule`",
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",  # torch deprecation inside Lightning itself
)


class _LightningInfo(logging.Filter):
    """Drops Lightning's product tips, and repeats of its information lines: a sweep builds a trainer
    per stage, and "GPU available: ...", "Seed set to 0" or "`Trainer.fit` stopped" once each is
    enough. Warnings always pass."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "Tip: For seamless cloud" in message:
            return False
        if record.levelno > logging.INFO:
            return True
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


def quiet_lightning() -> None:
    """Drop Lightning's product tips, repeated information lines and the notices above; every
    warning stays."""
    for pattern in LIGHTNING_NOISE:
        warnings.filterwarnings("ignore", message=pattern)
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero",
                 "lightning_fabric.utilities.seed"):
        log_ = logging.getLogger(name)
        if not any(isinstance(f, _LightningInfo) for f in log_.filters):
            log_.addFilter(_LightningInfo())


def make_trainer(ctx: RunContext, workdir: Path, epochs: int, **extra: Any) -> pl.Trainer:
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
    if opts.precision:
        kwargs["precision"] = opts.precision
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


def _record(ctx: RunContext, cell_id: str, stage: str, base: dict[str, Any], **fields: Any) -> Path:
    if rank_zero_only.rank != 0:  # under DDP every rank runs the stage; one writes its record
        return ctx.runs / cell_id / f"{stage}.json"
    record = {**base, "stage": stage, "seed": ctx.seed, "versions": versions(), "device": device_name(),
              "scale": ctx.scale, **fields}
    return write_record(ctx.runs / cell_id / f"{stage}.json", record)


def _done(ctx: RunContext, cell_id: str, stage: str) -> dict[str, Any] | None:
    record = read_record(ctx.runs / cell_id / f"{stage}.json")
    return record if record and record.get("status") == "ok" else None


# --- stages ------------------------------------------------------------------------------------------
PRETRAIN_CHECKPOINTS = {  # which pretraining epoch goes downstream: (metric monitored, mode)
    "lowest_train_loss": ("train/epoch_loss", "min"),  # RSPNet's model_best.pth.tar
    "best_val_loss": ("val/loss", "min"),  # PRP: on the held-out videos (data.heldout)
    "last": None,  # Pace: the last epoch
}


def pretrain(recipe: dict[str, Any], ctx: RunContext, cell_id: str) -> tuple[Path, dict[str, Any]]:
    """Train the method; returns the checkpoint the paper would fine-tune (recipe ``checkpoint``:
    ``lowest_train_loss``, ``best_val_loss`` or ``last``) and record fields: the count of videos
    replaced because they did not decode, and the method's protocol notes (e.g. RSPNet's shuffling BN)."""
    choice = recipe.get("checkpoint", "lowest_train_loss")
    if choice not in PRETRAIN_CHECKPOINTS:
        raise ConfigError(f"checkpoint={choice!r}: use lowest_train_loss, best_val_loss or last.")
    if choice == "best_val_loss" and not recipe["data"].get("heldout"):
        raise ConfigError("checkpoint=best_val_loss needs held-out videos: set data.heldout (PRP: 800).")
    workdir = ctx.work / cell_id / "pretrain"
    quiet_lightning()
    pl.seed_everything(ctx.seed, workers=True)
    method = METHODS[recipe["method"]](**checked_arguments(METHODS[recipe["method"]], recipe["model"], "model"))
    data = VideoDataModule(**{**recipe["data"], "root": dataset_root(recipe["data"]["dataset"], ctx),
                              "mode": "pretrain", "seed": ctx.seed, "num_workers": loader_workers(recipe, ctx)})
    share_cpu(ctx, data.num_workers)
    monitor, mode = PRETRAIN_CHECKPOINTS[choice] or (None, "min")
    best = ModelCheckpoint(dirpath=workdir / "checkpoints", filename="best", monitor=monitor, mode=mode,
                           save_last=True, save_on_train_epoch_end=monitor != "val/loss", save_top_k=1 if monitor else 0)
    trainer = make_trainer(ctx, workdir, recipe["trainer"].get("max_epochs", 1), callbacks=[best],
                           **{k: v for k, v in recipe["trainer"].items() if k != "max_epochs"})
    last = workdir / "checkpoints" / "last.ckpt"
    trainer.fit(method, data, ckpt_path=checked_lightning_checkpoint(last if last.is_file() else None),
                weights_only=True)
    chosen = Path(best.best_model_path) if monitor and best.best_model_path else last
    return chosen, {"skipped_videos": method.skipped_videos.record(trainer), "protocol_notes": method.protocol_notes,
                    "pretrain_checkpoint": choice}


SELECTIONS = {  # which fine-tuning epoch is tested: (metric monitored each epoch, mode)
    "last": None,
    "best_val": ("val/loss", "min"),  # PRP: lowest loss on videos held out of the train split
    "best_test": ("val/top1", "max"),  # RSPNet: highest top-1 on the test split (1 centre clip)
}


def finetune(recipe: dict[str, Any], ctx: RunContext, dataset: str, init: Path | None, backbone: str,
             workdir: Path) -> tuple[dict[str, float], dict[str, Any]]:
    """Fine-tune and test. ``finetune.select`` says which epoch is tested, as the paper did (``last``,
    ``best_val`` on ``heldout`` training videos, ``best_test``); the last epoch's numbers are always
    recorded too (``top1_last``), so a selected number can be read beside an unselected one."""
    proto = recipe["finetune"]
    spec = proto["datasets"][dataset]
    select = proto.get("select", "last")
    if select not in SELECTIONS:
        raise ConfigError(f"finetune.select={select!r}: use last, best_val or best_test.")
    heldout = spec.get("heldout", 0) if select == "best_val" else 0
    if select == "best_val" and not heldout:
        raise ConfigError(f"finetune.select=best_val needs finetune.datasets.{dataset}.heldout (videos held out "
                          "of the train split, PRP: 800 UCF101 / 400 HMDB51).")
    quiet_lightning()
    pl.seed_everything(ctx.seed, workers=True)
    data = VideoDataModule(dataset=dataset, root=dataset_root(dataset, ctx), split=spec.get("split", 1),
                           mode="finetune", clip_len=spec["clip_len"], eval_clips=spec["eval_clips"],
                           frame_size=tuple(spec.get("frame_size", recipe["data"]["frame_size"])),
                           batch_size=spec["batch_size"], num_workers=loader_workers(recipe, ctx),
                           seed=ctx.seed, heldout=heldout, cache_frames=recipe["data"].get("cache_frames", False))
    share_cpu(ctx, data.num_workers)
    model = FineTuner(backbone=backbone, backbone_width=recipe["model"].get("backbone_width", 1.0),
                      bn_momentum=recipe["model"].get("bn_momentum"),
                      num_classes=data.num_classes, init=str(init) if init else None,
                      init_format=ctx.checkpoint_format,
                      linear_probe=spec.get("linear_probe", False), crop_size=spec["crop_size"],
                      train_augment=proto.get("train_augment"), eval_crop=proto["eval_crop"],
                      normalize=proto["normalize"], optimizer=spec.get("optimizer", "sgd"), lr=spec["lr"],
                      weight_decay=spec.get("weight_decay", 1e-4), schedule=spec.get("schedule", "cosine"),
                      milestones=spec.get("milestones"), eta_min_ratio=spec.get("eta_min_ratio", 0.0))
    callbacks, val_every = [], spec.get("val_every", 1000)
    if SELECTIONS[select]:
        monitor, mode = SELECTIONS[select]
        callbacks.append(ModelCheckpoint(dirpath=workdir / "checkpoints", filename="selected-{epoch}",
                                         monitor=monitor, mode=mode, save_top_k=1))
        val_every = spec.get("val_every", 1)
    trainer = make_trainer(ctx, workdir, spec["epochs"], check_val_every_n_epoch=val_every, callbacks=callbacks)
    trainer.fit(model, data)
    trainer.test(model, data, verbose=False)  # the last epoch
    last = dict(model.results)
    metrics: dict[str, Any] = {"select": select, "top1_last": 100 * last["test/top1"], "top5_last": 100 * last["test/top5"]}
    if callbacks and callbacks[0].best_model_path:
        model.skipped_videos.dropped, model.skipped_videos.reasons = 0, []  # the same videos are tested again
        best = callbacks[0].best_model_path
        trainer.test(model, data, ckpt_path=checked_lightning_checkpoint(best), verbose=False, weights_only=True)
        metrics["selected_epoch"] = int(read_checkpoint(best)["epoch"])
    else:
        metrics["selected_epoch"] = trainer.current_epoch - 1
    return {"top1": 100 * model.results["test/top1"], "top5": 100 * model.results["test/top5"],
            "videos": model.results["test/videos"], "undecodable_videos": model.results["test/undecodable_videos"],
            "loaded_tensors": model.loaded_tensors, **metrics}, model.skipped_videos.record(trainer)


def retrieve(recipe: dict[str, Any], ctx: RunContext, dataset: str, init: Path | None, backbone: str,
             workdir: Path) -> tuple[dict[str, float], dict[str, Any]]:
    proto = recipe["retrieval"]
    quiet_lightning()
    pl.seed_everything(ctx.seed, workers=True)  # a random-init backbone is the seed's, not the process history's
    data = VideoDataModule(dataset=dataset, root=dataset_root(dataset, ctx), mode="retrieval",
                           clip_len=proto["clip_len"], eval_clips=proto["clips"],
                           frame_size=tuple(proto.get("frame_size", recipe["data"]["frame_size"])),
                           batch_size=proto.get("batch_size", 8), num_workers=loader_workers(recipe, ctx),
                           seed=ctx.seed, cache_frames=recipe["data"].get("cache_frames", False))
    share_cpu(ctx, data.num_workers)
    model = RetrievalEvaluator(backbone=backbone, backbone_width=recipe["model"].get("backbone_width", 1.0),
                      bn_momentum=recipe["model"].get("bn_momentum"),
                               init=str(init) if init else None, init_format=ctx.checkpoint_format,
                               crop_size=proto["crop_size"], crop=proto["crop"],
                               normalize=proto["normalize"], pool=proto["pool"])
    trainer = make_trainer(ctx, workdir, 1)
    trainer.test(model, data, verbose=False)
    return {**model.results, "loaded_tensors": model.loaded_tensors}, model.skipped_videos.record(trainer)


def checkpoint_facts(path: Path, fmt: str) -> dict[str, str]:
    """What a record says of an evaluated checkpoint: its layout and SHA-256."""
    if not Path(path).is_file():
        return {}
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    blob = read_checkpoint(path)  # refuses a file that would run code, before any stage starts
    layout = detect_layout(blob) if fmt == "auto" else fmt
    return {"format": layout, "sha256": digest.hexdigest(), "file": str(path)}


# --- a cell ------------------------------------------------------------------------------------------
def run_cell(cell: Cell, ctx: RunContext, recipe_path: str | None = None, scratch: bool = False,
             checkpoint: Path | None = None, sections: tuple[str, ...] = ("finetune", "retrieval"),
             redo: bool = False) -> list[str]:
    """Run the missing stages of one cell; returns the stages that failed.

    ``checkpoint`` evaluates that file instead of pretraining; ``sections`` limits the downstream
    protocols; ``redo`` runs stages again even where an ``ok`` record exists."""
    recipe = load_recipe(recipe_path or experiments_dir().parent / cell.recipe, ctx.scale)
    method = "scratch" if scratch else cell.method
    pretrain_data = "none" if scratch else (recipe["data"]["dataset"])
    cell_id = cell_label(cell, scratch, ctx)
    weights = checkpoint_facts(checkpoint, ctx.checkpoint_format) if checkpoint is not None else {}
    if weights.get("format") in PREFIXES:  # the authors' released weights: rows of their own
        cell_id = f"{cell_id}-official"
    base = {"method": method, "backbone": cell.backbone, "pretrain_data": pretrain_data,
            "paper_pretrain_data": "none" if scratch else cell.pretrain_data, "cell": cell_id,
            "recipe": str(recipe_path or cell.recipe), "extrapolated": recipe.get("extrapolated", ""),
            "variant": "" if scratch else cell.variant}
    if weights:
        base |= {"weights": weights, "source": "official weights" if weights["format"] in PREFIXES else "reproduced"}
    failed: list[str] = []

    def attempt(stage: str, fn, **fields: Any) -> Any:
        done = None if redo else _done(ctx, cell_id, stage)
        if done is not None:
            log.info("%s/%s: already done, skipped", cell_id, stage)
            return done
        started, t0 = now(), time.perf_counter()
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 - a failing stage must not stop the sweep
            log.error("%s/%s failed: %s", cell_id, stage, exc)
            _record(ctx, cell_id, stage, base, status="failed", error=f"{type(exc).__name__}: {exc}",
                    traceback=traceback.format_exc(limit=8), started=started, wall_s=time.perf_counter() - t0,
                    metrics={}, **fields)
            failed.append(f"{cell_id}/{stage}")
            return None
        finally:
            finish_logger(ctx)
        metrics, extra = result if isinstance(result, tuple) else (result, {})
        _record(ctx, cell_id, stage, base, status="ok", metrics=metrics, started=started,
                wall_s=round(time.perf_counter() - t0, 2), **fields, **extra)
        return {"metrics": metrics, **extra}

    if checkpoint is not None and not Path(checkpoint).is_file():
        raise ConfigError(f"checkpoint {checkpoint} not found; pass a .ckpt from pretraining or a state_dict file.")
    if not scratch and checkpoint is None:
        def do_pretrain():
            ckpt, extra = pretrain(recipe, ctx, cell_id)
            return {}, {"checkpoint": str(ckpt), "config": recipe, **extra}

        done = attempt("pretrain", do_pretrain, dataset=pretrain_data, split="train")
        if done is None:
            return failed
        checkpoint = Path(done["checkpoint"])
    for section, stage_fn in (("finetune", finetune), ("retrieval", retrieve)):
        if section not in sections or ctx.seed not in recipe[section].get("seeds", [ctx.seed]):
            continue  # a protocol may run for some seeds only (the quick scale fine-tunes seed 0)
        protocol = recipe[section]
        for dataset in protocol["datasets"]:
            splits = finetune_splits(protocol["datasets"][dataset]) if section == "finetune" else [1]
            for split in splits:
                stage = f"{section}-{dataset}" + (f"-split{split}" if split != 1 else "")
                r = recipe if split == 1 else _with_split(recipe, dataset, split)
                attempt(stage,
                        lambda f=stage_fn, r=r, d=dataset, p=protocol, w=ctx.work / cell_id / stage: _with_skips(
                            *f(r, ctx, d, checkpoint, cell.backbone, w),
                            {"checkpoint": str(checkpoint) if checkpoint else None, "config": p}),
                        dataset=dataset, split=split, protocol=protocol.get("protocol"))
    return failed


def _with_skips(metrics: dict[str, float], skipped: dict[str, Any], extra: dict[str, Any]):
    return metrics, {**extra, "skipped_videos": skipped}


def finetune_splits(spec: dict[str, Any]) -> list[int]:
    """``split: 1`` (what the papers report) or ``splits: [1, 2, 3]`` (for the 3-fold accuracy)."""
    splits = spec.get("splits", [spec.get("split", 1)])
    if not splits or any(s not in (1, 2, 3) for s in splits):
        raise ConfigError(f"fine-tuning splits={splits!r}: UCF101 and HMDB51 have splits 1, 2 and 3.")
    return sorted(set(splits))


def _with_split(recipe: dict[str, Any], dataset: str, split: int) -> dict[str, Any]:
    out = dict(recipe, finetune=dict(recipe["finetune"], datasets=dict(recipe["finetune"]["datasets"])))
    out["finetune"]["datasets"][dataset] = {**recipe["finetune"]["datasets"][dataset], "split": split}
    return out


@dataclass
class SweepProgress:
    """The sweep's own status line, printed between Lightning's bars: cells done / running / failed,
    elapsed time and a naive estimate of the rest."""

    total: int
    done: int = 0
    failed_cells: int = 0
    started: float = field(default_factory=time.perf_counter)

    def line(self, running: str | None = None) -> str:
        elapsed = time.perf_counter() - self.started
        parts = [f"{self.done}/{self.total} cells done", f"{self.failed_cells} failed",
                 f"elapsed {_clock(elapsed)}"]
        if running:
            parts.insert(1, f"running {running}")
        if 0 < self.done < self.total:
            parts.append(f"about {_clock(elapsed / self.done * (self.total - self.done))} left")
        return "sweep: " + ", ".join(parts)

    def finish(self, failed_stages: list[str]) -> None:
        self.done += 1
        self.failed_cells += bool(failed_stages)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def sweep_jobs(grid_name: str, baselines: bool = True) -> list[tuple[Cell, bool]]:
    """The grid's cells, then one scratch baseline per backbone (``(cell, scratch)`` pairs)."""
    cells = grid(grid_name)
    jobs: list[tuple[Cell, bool]] = [(c, False) for c in cells]
    if baselines:
        seen: set[str] = set()
        for c in cells:
            if c.backbone not in seen:
                seen.add(c.backbone)
                jobs.append((c, True))
    return jobs


# Every row of the quick scale is the mean over these seeds (its tables show mean +- std); the paper
# scale runs seed 0 unless --seeds says otherwise.
QUICK_SEEDS = (0, 1, 2)


def cell_label(cell: Cell, scratch: bool, ctx: RunContext) -> str:
    """The cell's folder under runs/: ``<method>-<backbone>-<data>-<scale>`` or ``scratch-<backbone>-<scale>``,
    with ``-seed<N>`` for seeds other than 0."""
    label = f"scratch-{cell.backbone}-{ctx.scale}" if scratch else cell.id(ctx.scale)
    return label if ctx.seed == 0 else f"{label}-seed{ctx.seed}"


def dry_run_lines(jobs: list[tuple[Cell, bool]], ctx: RunContext) -> list[str]:
    """What a sweep would run: one line per cell with the command that runs it alone."""
    lines = []
    for c, scratch in jobs:
        label = cell_label(c, scratch, ctx)
        command = f"vssl-bench evaluate --config {c.recipe} --scale {ctx.scale}"
        if ctx.data_root:
            command += f" --data_root {ctx.data_root}"
        if ctx.seed:
            command += f" --seed {ctx.seed}"
        if scratch:
            command += " --scratch true"
        stages = "fine-tune + retrieval from random init" if scratch else "pretrain -> fine-tune -> retrieval"
        lines.append(f"{label}: {stages}\n    {command}")
    return lines


def sweep(grid_name: str, ctx: RunContext, launcher: str = "local", dry_run: bool = False,
          baselines: bool = True, seeds: list[int] | tuple[int, ...] | None = None) -> int:
    """Run a grid once per seed (default: ``ctx.seed``); returns the number of failed stages."""
    contexts = [replace(ctx, seed=s) for s in (seeds if seeds else [ctx.seed])]
    jobs = sweep_jobs(grid_name, baselines)
    if dry_run:
        print("\n".join(line for c in contexts for line in dry_run_lines(jobs, c)))
        return 0
    runs = [(c, scratch, context) for context in contexts for c, scratch in jobs]
    failed: list[str] = []
    if launcher in ("slurm", "submitit-local"):
        failed = _submitit(runs, ctx, launcher)
    elif launcher == "local":
        check_training_precision(torch.device("cpu" if on_cpu(ctx) else "cuda"), ctx.trainer.precision)
        progress = SweepProgress(total=len(runs))
        for c, scratch, context in runs:
            print(progress.line(running=cell_label(c, scratch, context)), flush=True)
            cell_failed = run_cell(c, context, scratch=scratch)
            progress.finish(cell_failed)
            failed += cell_failed
        print(progress.line(), flush=True)
    else:
        raise ConfigError(f"launcher={launcher!r}: use local, slurm or submitit-local.")
    seeds_note = f" x {len(contexts)} seeds" if len(contexts) > 1 else ""
    print(f"sweep {grid_name}: {len(jobs)} cells{seeds_note}, {len(failed)} failed stages" + (":" if failed else "."))
    for f in failed:
        print(f"  FAILED {f}")
    return len(failed)


def _submitit(runs: list[tuple[Cell, bool, RunContext]], ctx: RunContext, launcher: str) -> list[str]:
    try:
        import submitit
    except ImportError as exc:
        raise ConfigError("the slurm launcher needs submitit: pip install 'vssl-bench[slurm]'") from exc
    folder = ctx.work / "submitit"
    if launcher == "slurm":
        executor = submitit.AutoExecutor(folder=str(folder))
        devices = ctx.trainer.devices if isinstance(ctx.trainer.devices, int) else 1
        executor.update_parameters(timeout_min=60 * 72, gpus_per_node=devices, tasks_per_node=devices,
                                   nodes=ctx.trainer.num_nodes, cpus_per_task=8)
    else:
        executor = submitit.LocalExecutor(folder=str(folder))
        executor.update_parameters(timeout_min=60)
    submitted = {executor.submit(run_cell, c, context, None, scratch): (c, scratch, context)
                 for c, scratch, context in runs}
    progress = SweepProgress(total=len(runs))
    print(progress.line(running=f"{len(runs)} jobs submitted to {folder}"), flush=True)
    failed: list[str] = []
    for job in submitit.helpers.as_completed(list(submitted)):
        try:
            cell_failed = job.result()
        except Exception as exc:  # noqa: BLE001 - a lost job is a failed cell, not a lost sweep
            c, scratch, context = submitted[job]
            cell_failed = [f"{cell_label(c, scratch, context)} (job {job.job_id}): {exc}"]
        progress.finish(cell_failed)
        failed += cell_failed
        print(progress.line(), flush=True)
    return failed
