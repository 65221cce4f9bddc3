"""The three stages of a cell, each from a typed recipe: pretrain, fine-tune (or linear probe), retrieval.

Each stage builds its data module and model from the recipe, splits the paper's global batch over the
world size (:mod:`vssl_bench.bench.batching`), trains or tests, and returns its metrics and the
record fields that say how it ran (``batch``: the plan; ``lr``: the first step's learning rate).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint

from vssl_bench.bench.batching import BatchPlan, plan_batch
from vssl_bench.bench.checkpointing import LAST, EpochCheckpoint, resume_point
from vssl_bench.bench.recipes import Recipe
from vssl_bench.bench.trainer import (
    FirstStepLR,
    RunContext,
    make_trainer,
    on_cpu,
    quiet_lightning,
    rank_cores,
    share_cpu,
)
from vssl_bench.data.datamodule import VideoDataModule
from vssl_bench.errors import ConfigError
from vssl_bench.evaluation.checkpoints import checked_lightning_checkpoint, read_checkpoint
from vssl_bench.evaluation.finetune import FineTuner
from vssl_bench.evaluation.official_weights import detect_layout
from vssl_bench.evaluation.retrieval import RetrievalEvaluator
from vssl_bench.methods import METHODS


def dataset_root(name: str, ctx: RunContext) -> str | None:
    """``<data_root>/<name>`` (the folder names are the dataset names); ``None`` for the synthetic set."""
    if name == "synthetic":
        return None
    if ctx.data_root is None:
        raise ConfigError(f"the {ctx.scale} scale reads {name}: pass --data_root (DATA=... for make).")
    return str(Path(ctx.data_root) / name)


def loader_workers(recipe: Recipe, ctx: RunContext) -> int:
    """Loader processes per device: ``--trainer.num-workers``, else the recipe's ``data.num_workers``,
    else the cores this rank holds (its Slurm task's, or its share of the node's) less one for the
    training process (decoding is what keeps a GPU fed: see README, Performance)."""
    if ctx.trainer.num_workers is not None:
        return ctx.trainer.num_workers
    if "num_workers" in recipe.data:
        return int(recipe.data["num_workers"])
    return max(1, rank_cores(ctx) - 1)


# --- batch plans and first-step learning rates (also what --dry-run prints) --------------------------
def can_sync(ctx: RunContext) -> bool:
    """SyncBatchNorm needs GPUs; a dry run assumes the accelerator the options name."""
    return not on_cpu(ctx)


def pretrain_plan(recipe: Recipe, ctx: RunContext, sync: bool | None = None) -> BatchPlan:
    own_groups = getattr(METHODS[recipe.method], "own_batchnorm_groups", False)
    return plan_batch(recipe.data.get("batch_size", 8), ctx.world_size, recipe.trainer.paper_devices,
                      ctx.trainer.max_per_device_batch, own_groups, "data.batch_size",
                      can_sync(ctx) if sync is None else sync)


def pretrain_lr(recipe: Recipe) -> float:
    """The schedule's base LR: the recipe's, scaled by global batch / ``lr_batch_reference`` where the
    paper's code scales it (RSPNet); the same at every device count, since the global batch is."""
    lr = float(recipe.model.get("lr", 0.1))
    reference = recipe.model.get("lr_batch_reference")
    return lr * recipe.data.get("batch_size", 8) / reference if reference else lr


def finetune_plan(recipe: Recipe, ctx: RunContext, dataset: str, sync: bool | None = None) -> BatchPlan:
    spec = recipe.finetune.datasets[dataset]
    return plan_batch(spec.batch_size, ctx.world_size, spec.paper_devices, ctx.trainer.max_per_device_batch,
                      what=f"finetune.datasets.{dataset}.batch_size", can_sync=can_sync(ctx) if sync is None else sync)


def retrieval_plan(recipe: Recipe, ctx: RunContext) -> BatchPlan:
    """Feature extraction has no gradients: its batch only sets memory, so it shrinks to fit the world."""
    devices = ctx.world_size
    size = max(devices, recipe.retrieval.batch_size - recipe.retrieval.batch_size % devices)
    return plan_batch(size, devices, devices, what="retrieval.batch_size")


def _run_record(plan: BatchPlan, lr: float | None, trainer: pl.Trainer | None = None) -> dict[str, Any]:
    """How the stage ran: its batch plan, first-step LR and the epochs it was set to train (after any
    ``--trainer.max-epochs`` override)."""
    return {"batch": plan.record(), "lr": lr, "epochs": trainer.max_epochs if trainer is not None else None}


def first_step_lr(trainer: pl.Trainer) -> float | None:
    return next((c.lr for c in trainer.callbacks if isinstance(c, FirstStepLR)), None)


# --- pretraining -------------------------------------------------------------------------------------
PRETRAIN_CHECKPOINTS = {  # which pretraining epoch goes downstream: (metric monitored, mode)
    "lowest_train_loss": ("train/epoch_loss", "min"),  # RSPNet's model_best.pth.tar
    "best_val_loss": ("val/loss", "min"),  # PRP: on the held-out videos (data.heldout)
    "last": None,  # Pace: the last epoch
}


def pretrain(recipe: Recipe, ctx: RunContext, cell_id: str) -> tuple[Path, dict[str, Any]]:
    """Train the method; returns the checkpoint the paper would fine-tune (recipe ``checkpoint``:
    ``lowest_train_loss``, ``best_val_loss`` or ``last``) and record fields: the count of videos
    replaced because they did not decode, the method's protocol notes (e.g. RSPNet's shuffling BN),
    the batch plan and the first step's LR."""
    choice = recipe.checkpoint
    if choice == "best_val_loss" and not recipe.data.get("heldout"):
        raise ConfigError(f"{recipe.source}: checkpoint=best_val_loss needs held-out videos: set data.heldout "
                          "(PRP: 800).")
    plan = pretrain_plan(recipe, ctx)
    workdir = ctx.work / cell_id / "pretrain"
    quiet_lightning()
    pl.seed_everything(ctx.seed, workers=True)
    method = METHODS[recipe.method](backbone=recipe.backbone, **recipe.model)
    data = VideoDataModule(**{**recipe.data, "batch_size": plan.per_device, "root": dataset_root(recipe.data["dataset"], ctx),
                              "mode": "pretrain", "seed": ctx.seed, "num_workers": loader_workers(recipe, ctx),
                              "sampler": method.sampler})
    share_cpu(ctx, data.num_workers)
    monitor, mode = PRETRAIN_CHECKPOINTS[choice] or (None, "min")
    checkpoints = workdir / "checkpoints"
    callbacks: list[pl.Callback] = [EpochCheckpoint(checkpoints)]  # last.ckpt every epoch: what a rerun resumes
    if monitor:
        best = ModelCheckpoint(dirpath=checkpoints, filename="best", monitor=monitor, mode=mode, save_top_k=1,
                               save_on_train_epoch_end=monitor != "val/loss", enable_version_counter=False)
        callbacks.append(best)
    extra = {"log_every_n_steps": recipe.trainer.log_every_n_steps} if recipe.trainer.log_every_n_steps else {}
    trainer = make_trainer(ctx, workdir, recipe.trainer.max_epochs, plan, recipe.trainer.precision,
                           callbacks=callbacks, **extra)
    trainer.fit(method, data, ckpt_path=resume_point(checkpoints, f"{cell_id}/pretrain"), weights_only=True)
    last = checkpoints / LAST
    chosen = Path(best.best_model_path) if monitor and best.best_model_path else last
    return chosen, {"skipped_videos": data.skipped_videos.record(trainer), "protocol_notes": method.protocol_notes,
                    "pretrain_checkpoint": choice, "pretext": pretext_accuracies(method, trainer, plan),
                    "steps": trainer.global_step, **_run_record(plan, first_step_lr(trainer), trainer)}


def pretext_accuracies(method: pl.LightningModule, trainer: pl.Trainer, plan: BatchPlan) -> dict[str, Any]:
    """Each pretext accuracy over the last epoch (its ``train/epoch_acc/*`` mean, every rank's batches),
    beside its chance level, in %."""
    chance = method.chance_levels(plan.per_device) if hasattr(method, "chance_levels") else {}
    prefix = "train/epoch_"
    return {key.removeprefix(prefix): {"accuracy": round(100 * float(value), 2),
                                       "chance": round(100 * chance[key.removeprefix(prefix)], 2)
                                       if key.removeprefix(prefix) in chance else None}
            for key, value in sorted(trainer.callback_metrics.items()) if key.startswith(prefix + "acc/")}


# --- fine-tuning -------------------------------------------------------------------------------------
SELECTIONS = {  # which fine-tuning epoch is tested: (metric monitored each epoch, mode)
    "last": None,
    "best_val": ("val/loss", "min"),  # PRP: lowest loss on videos held out of the train split
    "best_test": ("val/top1", "max"),  # RSPNet: highest top-1 on the test split (1 centre clip)
}


def finetune(recipe: Recipe, ctx: RunContext, dataset: str, init: Path | None,
             workdir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fine-tune and test. ``finetune.select`` says which epoch is tested, as the paper did (``last``,
    ``best_val`` on ``heldout`` training videos, ``best_test``); the last epoch's numbers are always
    recorded too (``top1_last``), so a selected number can be read beside an unselected one."""
    proto, spec = recipe.finetune, recipe.finetune.datasets[dataset]
    select = proto.select
    heldout = spec.heldout if select == "best_val" else 0
    if select == "best_val" and not heldout:
        raise ConfigError(f"{recipe.source}: finetune.select=best_val needs finetune.datasets.{dataset}.heldout "
                          "(videos held out of the train split, PRP: 800 UCF101 / 400 HMDB51).")
    plan = finetune_plan(recipe, ctx, dataset)
    quiet_lightning()
    pl.seed_everything(ctx.seed, workers=True)
    data = VideoDataModule(dataset=dataset, root=dataset_root(dataset, ctx), split=spec.split,
                           mode="finetune", clip_len=spec.clip_len, eval_clips=spec.eval_clips,
                           frame_size=tuple(spec.frame_size or recipe.data["frame_size"]),
                           batch_size=plan.per_device, num_workers=loader_workers(recipe, ctx),
                           seed=ctx.seed, heldout=heldout, cache_frames=recipe.data.get("cache_frames", False),
                           clip_starts=proto.clip_starts)
    share_cpu(ctx, data.num_workers)
    model = FineTuner(backbone=recipe.backbone, backbone_width=recipe.model.get("backbone_width", 1.0),
                      bn_momentum=recipe.model.get("bn_momentum"), num_classes=data.num_classes,
                      init=str(init) if init else None, init_format=ctx.checkpoint_format,
                      crop_size=spec.crop_size, train_augment=proto.train_augment, eval_crop=proto.eval_crop,
                      normalize=proto.normalize, **spec.classifier)
    checkpoints = workdir / "checkpoints"
    callbacks: list[pl.Callback] = [EpochCheckpoint(checkpoints)]  # last.ckpt every epoch: what a rerun resumes
    selected, val_every = None, spec.val_every or 1000
    if SELECTIONS[select]:
        monitor, mode = SELECTIONS[select]
        selected = ModelCheckpoint(dirpath=checkpoints, filename="selected-{epoch}", monitor=monitor, mode=mode,
                                   save_top_k=1)
        callbacks.append(selected)
        val_every = spec.val_every or 1
    trainer = make_trainer(ctx, workdir, spec.epochs, plan, recipe.trainer.precision, check_val_every_n_epoch=val_every,
                           callbacks=callbacks)
    trainer.fit(model, data, ckpt_path=resume_point(checkpoints, f"{workdir.parent.name}/{workdir.name}"),
                weights_only=True)
    trainer.test(model, data, verbose=False)  # the last epoch
    last = dict(model.results)
    metrics: dict[str, Any] = {"select": select, "top1_last": 100 * last["test/top1"], "top5_last": 100 * last["test/top5"]}
    if selected is not None and selected.best_model_path:
        data.skipped_videos.dropped, data.skipped_videos.reasons = 0, []  # the same videos are tested again
        best = selected.best_model_path
        trainer.test(model, data, ckpt_path=checked_lightning_checkpoint(best), verbose=False, weights_only=True)
        metrics["selected_epoch"] = int(read_checkpoint(best)["epoch"])
    else:
        metrics["selected_epoch"] = trainer.current_epoch - 1
    return ({"top1": 100 * model.results["test/top1"], "top5": 100 * model.results["test/top5"],
             "videos": model.results["test/videos"], "undecodable_videos": model.results["test/undecodable_videos"],
             "loaded_tensors": model.loaded_tensors, **metrics},
            {"skipped_videos": data.skipped_videos.record(trainer), **_run_record(plan, first_step_lr(trainer), trainer)})


# --- retrieval ---------------------------------------------------------------------------------------
def retrieve(recipe: Recipe, ctx: RunContext, dataset: str, init: Path | None,
             workdir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    proto = recipe.retrieval
    plan = retrieval_plan(recipe, ctx)
    quiet_lightning()
    pl.seed_everything(ctx.seed, workers=True)  # a random-init backbone is the seed's, not the process history's
    data = VideoDataModule(dataset=dataset, root=dataset_root(dataset, ctx), mode="retrieval",
                           clip_len=proto.clip_len, eval_clips=proto.clips,
                           frame_size=tuple(proto.frame_size or recipe.data["frame_size"]),
                           batch_size=plan.per_device, num_workers=loader_workers(recipe, ctx),
                           seed=ctx.seed, cache_frames=recipe.data.get("cache_frames", False),
                           clip_starts=proto.clip_starts)
    share_cpu(ctx, data.num_workers)
    model = RetrievalEvaluator(backbone=recipe.backbone, backbone_width=recipe.model.get("backbone_width", 1.0),
                               bn_momentum=recipe.model.get("bn_momentum"),
                               init=str(init) if init else None, init_format=ctx.checkpoint_format,
                               crop_size=proto.crop_size, crop=proto.crop, normalize=proto.normalize, pool=proto.pool)
    trainer = make_trainer(ctx, workdir, 1, plan, recipe.trainer.precision)
    trainer.test(model, data, verbose=False)
    return ({**model.results, "loaded_tensors": model.loaded_tensors},
            {"skipped_videos": data.skipped_videos.record(trainer), **_run_record(plan, None)})


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
