"""`vssl-bench run | pretrain | finetune | retrieve | leaderboard`: functions whose signatures are the CLI."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from vssl_bench import catalog
from vssl_bench.bench import ranks
from vssl_bench.bench.grids import Cell, grid
from vssl_bench.bench.recipes import experiments_dir, load_recipe
from vssl_bench.bench.runner import cell_label, run_cell
from vssl_bench.bench.slurm import SlurmOptions
from vssl_bench.bench.stages import pretrain as pretrain_stage
from vssl_bench.bench.sweep import QUICK_SEEDS, sweep
from vssl_bench.bench.trainer import RunContext, TrainerOptions
from vssl_bench.errors import ConfigError
from vssl_bench.evaluation.checkpoints import backbone_state, read_checkpoint
from vssl_bench.evaluation.official_weights import PREFIXES, to_official
from vssl_bench.report.leaderboard import quick_summary, write_leaderboard
from vssl_bench.report.summary import pretrain_summary, summarize


def run(grid: str = "all", scale: str = "quick", data_root: str | None = None, results: str = "results",
        launcher: str = "local", dry_run: bool = False, baselines: bool = True, seeds: list[int] | None = None,
        jobs: int | str = 1, trainer: TrainerOptions = TrainerOptions(), slurm: SlurmOptions = SlurmOptions()) -> None:
    """Sweep a named grid (pretrain -> fine-tune -> retrieval per cell, plus scratch baselines) and
    rebuild the leaderboard.

    Args:
        grid: all (every method x backbone), showcase (every method on R3D-10: ``make run``), rspnet,
            pace, prp, ascnet (a paper's cells) or smoke.
        scale: quick (synthetic data, narrow backbones) or paper (the recipes, real data under data_root).
        data_root: folder holding ucf101/, hmdb51/, kinetics400/ (paper scale).
        results: where records (runs/), work files (work/) and tables go.
        launcher: local (in-process) or slurm (one batch job per cell, one task per device, requeued
            before its time limit and resumed: README, "Running on a SLURM cluster").
        dry_run: print the cells and recipes without running them.
        baselines: also run the random-init baseline once per backbone.
        seeds: run every cell once per seed (stored in the records; tables show the mean +- std over
            them). Default: 0, 1 and 2 at the quick scale, 0 at the paper scale.
        jobs: cells run at once by the local launcher on CPU, each on its share of the cores; ``auto``:
            one per core on CPU, one on a GPU (``make run``'s choice: at the quick scale two one-core
            trainings finish in about the time of one two-core training).
        trainer: engineering options for every Trainer (devices, precision, strategy, logger, ...).
        slurm: what each job asks the scheduler for (partition, account, qos, time, cpus_per_task,
            mem_per_task, constraint, requeue_grace_s, poll_s, extra); read with ``--launcher slurm``.
    """
    seeds = seeds or list(QUICK_SEEDS if scale == "quick" else (0,))
    ctx = RunContext(scale=scale, data_root=data_root, results=Path(results), seed=seeds[0], trainer=trainer)
    failed = sweep(grid, ctx, launcher=launcher, dry_run=dry_run, baselines=baselines, seeds=seeds, jobs=jobs,
                   slurm=slurm)
    if not dry_run and ranks.is_main():  # under DDP every rank runs the command; rank 0 writes the tables
        out = write_leaderboard(results)
        print("leaderboard: " + ", ".join(str(p) for p in out.values()))
        if scale == "quick":
            print(quick_summary(results))
    if failed:
        sys.exit(1)


def resolve_recipe(recipe: str | None, method: str | None, backbone: str | None) -> str:
    """A recipe path, given directly or as method + backbone (the grid ``all`` picks the data)."""
    if recipe:
        return recipe
    if not (method and backbone):
        raise ConfigError("name a recipe with --config experiments/<method>/<file>.yaml, or give --method and --backbone.")
    for cell in grid("all"):
        if (cell.method, cell.backbone) == (method, backbone):
            return str(experiments_dir().parent / cell.recipe)
    raise ConfigError(f"no recipe for method={method!r} backbone={backbone!r}; methods: "
                      f"{', '.join(catalog.METHODS)}; backbones: {', '.join(catalog.BACKBONES)}.")


def pretrain(recipe: str | None = None, method: str | None = None, backbone: str | None = None, scale: str = "paper", data_root: str | None = None, results: str = "results",
             seed: int = 0, trainer: TrainerOptions = TrainerOptions()) -> None:
    """Pretrain one recipe; print the final pretext loss and accuracy beside chance, and the checkpoint path.

    Args:
        recipe: experiments/<method>/<backbone>_<data>.yaml (``--config`` is accepted for it too).
        method, backbone: instead of a recipe, e.g. ``--method pace --backbone r3d18``.
    """
    recipe = load_recipe(resolve_recipe(recipe, method, backbone), scale)
    ctx = RunContext(scale=scale, data_root=data_root, results=Path(results), seed=seed, trainer=trainer)
    cell = Cell(recipe.method, recipe.backbone, recipe.pretrain_data, recipe.variant)
    with ranks.failing_together(f"{cell.id(scale)}/pretrain", ctx.world_size):
        checkpoint = pretrain_stage(recipe, ctx, cell.id(scale))[0]
    if ranks.is_main():
        print(pretrain_summary(checkpoint, ctx.work, cell.id(scale), recipe.method, recipe.to_dict()))


def evaluate(recipe: str | None = None, method: str | None = None, backbone: str | None = None, scale: str = "paper", data_root: str | None = None, results: str = "results",
             seed: int = 0, scratch: bool = False, checkpoint: str | None = None, checkpoint_format: str = "auto",
             trainer: TrainerOptions = TrainerOptions()) -> None:
    """Run the missing stages of one recipe (pretrain, fine-tune, retrieval) and write their records.

    Args:
        recipe: experiments/<method>/<backbone>_<data>.yaml (``--config`` is accepted for it too).
        method, backbone: instead of a recipe.
        scratch: evaluate the backbone from random initialisation instead (the baseline row).
        checkpoint: evaluate these weights instead of pretraining: ours, or the authors' released
            RSPNet / PRP checkpoints (their rows are marked ``official weights``).
        checkpoint_format: auto (recognise the layout), ours, rspnet or prp.
    """
    path = resolve_recipe(recipe, method, backbone)
    recipe = load_recipe(path, scale)
    ctx = RunContext(scale=scale, data_root=data_root, results=Path(results), seed=seed, trainer=trainer,
                     checkpoint_format=checkpoint_format)
    cell, started = Cell(recipe.method, recipe.backbone, recipe.pretrain_data, recipe.variant), time.time()
    failed = run_cell(cell, ctx, path, scratch, checkpoint=Path(checkpoint) if checkpoint else None)
    if ranks.is_main():  # under DDP every rank runs the command; rank 0 writes the tables
        write_leaderboard(results)
        label = cell_label(cell, scratch, ctx)
        print(summarize(results, [label, f"{label}-official"], since=started))
    if failed:
        sys.exit(1)


def leaderboard(results: str = "results") -> None:
    """Rebuild results/leaderboard.{csv,md,json} and index.html from reported.yaml and the run records."""
    for path in write_leaderboard(results).values():
        print(path)


def _evaluate_sections(sections: tuple[str, ...], recipe: str | None, method: str | None, backbone: str | None,
                       checkpoint: str | None, scale: str, data_root: str | None, results: str, seed: int,
                       trainer: TrainerOptions, checkpoint_format: str = "auto") -> None:
    path = resolve_recipe(recipe, method, backbone)
    spec = load_recipe(path, scale)
    ctx = RunContext(scale=scale, data_root=data_root, results=Path(results), seed=seed, trainer=trainer,
                     checkpoint_format=checkpoint_format)
    cell, started = Cell(spec.method, spec.backbone, spec.pretrain_data, spec.variant), time.time()
    failed = run_cell(cell, ctx, path, scratch=checkpoint is None, sections=sections,
                      checkpoint=Path(checkpoint) if checkpoint else None, redo=True)
    if ranks.is_main():  # under DDP every rank runs the command; rank 0 writes the tables
        write_leaderboard(results)
        label = cell_label(cell, checkpoint is None, ctx)
        print(summarize(results, [label, f"{label}-official"], kinds=sections, since=started))
    if failed:
        sys.exit(1)


def finetune(recipe: str | None = None, method: str | None = None, backbone: str | None = None,
             checkpoint: str | None = None, scale: str = "paper", data_root: str | None = None,
             results: str = "results", seed: int = 0, checkpoint_format: str = "auto",
             trainer: TrainerOptions = TrainerOptions()) -> None:
    """Fine-tune a backbone by a recipe's protocol on each of its downstream datasets; writes records.

    Args:
        recipe: experiments/<method>/<backbone>_<data>.yaml (``--config`` is accepted for it too).
        method, backbone: instead of a recipe.
        checkpoint: a pretraining .ckpt or a state_dict file, or the authors' released RSPNet / PRP
            weights; without it the backbone starts from random initialisation (the scratch row).
        checkpoint_format: auto (recognise the layout), ours, rspnet or prp.
    """
    _evaluate_sections(("finetune",), recipe, method, backbone, checkpoint, scale, data_root, results, seed, trainer,
                       checkpoint_format)


def retrieve(recipe: str | None = None, method: str | None = None, backbone: str | None = None,
             checkpoint: str | None = None, scale: str = "paper", data_root: str | None = None,
             results: str = "results", seed: int = 0, checkpoint_format: str = "auto",
             trainer: TrainerOptions = TrainerOptions()) -> None:
    """Nearest-neighbour retrieval by a recipe's protocol (test videos query train videos); writes records.

    Args:
        recipe: experiments/<method>/<backbone>_<data>.yaml (``--config`` is accepted for it too).
        method, backbone: instead of a recipe.
        checkpoint: a pretraining .ckpt or a state_dict file, or the authors' released RSPNet / PRP
            weights; without it, random initialisation.
        checkpoint_format: auto (recognise the layout), ours, rspnet or prp.
    """
    _evaluate_sections(("retrieval",), recipe, method, backbone, checkpoint, scale, data_root, results, seed, trainer,
                       checkpoint_format)


def export(checkpoint: str, format: str, out: str, backbone: str | None = None) -> str:
    """Write our pretrained backbone in the layout the authors publish, so their own fine-tuning
    scripts load it: ``rspnet`` (``{"model": {"encoder_q.encoder.<key>": ...}}``) or ``prp``
    (``{"module.base_network.<key>": ...}``).

    Args:
        checkpoint: our pretraining .ckpt (or a state_dict of our backbone keys).
        format: rspnet or prp.
        out: the file to write.
        backbone: registry name (c3d, r3d10, r21d10, r3d18, s3dg); read from the .ckpt when omitted.
    """
    if format not in PREFIXES:
        raise ConfigError(f"format={format!r}: use rspnet or prp.")
    blob = read_checkpoint(checkpoint)
    name = backbone or (blob.get("hyper_parameters", {}).get("backbone") if isinstance(blob, dict) else None)
    if not name:
        raise ConfigError(f"{checkpoint} does not say its backbone: pass --backbone c3d|r3d10|r21d10|r3d18|s3dg.")
    state, layout = backbone_state(checkpoint, "ours")
    torch.save(to_official(state, format, name), out)
    return f"{out}: {name} backbone, {len(state)} tensors, {format} layout"
