"""`vssl-bench run | pretrain | finetune | retrieve | leaderboard`: functions whose signatures are the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

from vssl_bench.bench.grids import Cell
from vssl_bench.bench.leaderboard import write_leaderboard
from vssl_bench.bench.recipes import load_recipe
from vssl_bench.bench.runner import RunContext, TrainerOptions, run_cell, sweep
from vssl_bench.bench.runner import pretrain as pretrain_stage


def run(grid: str = "all", scale: str = "quick", data_root: str | None = None, results: str = "results",
        launcher: str = "local", dry_run: bool = False, baselines: bool = True, seed: int = 0,
        trainer: TrainerOptions = TrainerOptions()) -> None:
    """Sweep a named grid (pretrain -> fine-tune -> retrieval per cell, plus scratch baselines) and
    rebuild the leaderboard.

    Args:
        grid: all, rspnet, pace, prp, ascnet or smoke.
        scale: quick (synthetic data, narrow backbones) or paper (the recipes, real data under data_root).
        data_root: folder holding ucf101/, hmdb51/, kinetics400/ (paper scale).
        results: where records (runs/), work files (work/) and tables go.
        launcher: local (in-process), slurm (submitit, one job per cell) or submitit-local.
        dry_run: print the cells and recipes without running them.
        baselines: also run the random-init baseline once per backbone.
        seed: seed of every stage (stored in the records).
        trainer: engineering options for every Trainer (devices, precision, strategy, logger, ...).
    """
    ctx = RunContext(scale=scale, data_root=data_root, results=Path(results), seed=seed, trainer=trainer)
    failed = sweep(grid, ctx, launcher=launcher, dry_run=dry_run, baselines=baselines)
    if not dry_run:
        out = write_leaderboard(results)
        print("leaderboard: " + ", ".join(str(p) for p in out.values()))
    if failed:
        sys.exit(1)


def pretrain(recipe: str, scale: str = "paper", data_root: str | None = None, results: str = "results",
             seed: int = 0, trainer: TrainerOptions = TrainerOptions()) -> None:
    """Pretrain one recipe and print the checkpoint path.

    Args:
        recipe: experiments/<method>/<backbone>_<data>.yaml (``--config`` is accepted for it too).
    """
    recipe = load_recipe(recipe, scale)
    ctx = RunContext(scale=scale, data_root=data_root, results=Path(results), seed=seed, trainer=trainer)
    cell = Cell(recipe["method"], recipe["backbone"], recipe["pretrain_data"])
    print(pretrain_stage(recipe, ctx, cell.id(scale)))


def evaluate(recipe: str, scale: str = "paper", data_root: str | None = None, results: str = "results",
             seed: int = 0, scratch: bool = False, trainer: TrainerOptions = TrainerOptions()) -> None:
    """Run the missing stages of one recipe (pretrain, fine-tune, retrieval) and write their records.

    Args:
        recipe: experiments/<method>/<backbone>_<data>.yaml (``--config`` is accepted for it too).
        scratch: evaluate the backbone from random initialisation instead (the baseline row).
    """
    path, recipe = recipe, load_recipe(recipe, scale)
    ctx = RunContext(scale=scale, data_root=data_root, results=Path(results), seed=seed, trainer=trainer)
    failed = run_cell(Cell(recipe["method"], recipe["backbone"], recipe["pretrain_data"]), ctx, path, scratch)
    write_leaderboard(results)
    if failed:
        sys.exit(1)


def leaderboard(results: str = "results") -> None:
    """Rebuild results/leaderboard.{csv,md,json} and index.html from reported.yaml and the run records."""
    for path in write_leaderboard(results).values():
        print(path)
