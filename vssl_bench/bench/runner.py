"""Running one cell: pretrain -> fine-tune (each downstream dataset and split) -> retrieval, or the
random-init baseline's downstream stages. Every finished stage writes a record; a stage whose record
says ``ok`` is skipped, so an interrupted sweep resumes where it stopped; a pretraining that was killed
resumes from its last Lightning checkpoint. A failing stage is recorded as failed with its error and
the cell goes on to what does not depend on it; the caller gets the failed stages.
"""

from __future__ import annotations

import logging
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from vssl_bench.bench import ranks, stages
from vssl_bench.bench.grids import Cell
from vssl_bench.bench.recipes import Recipe, experiments_dir, load_recipe
from vssl_bench.bench.trainer import RunContext, TrainerOptions, finish_logger
from vssl_bench.errors import ConfigError, RankFailedError, ResultsUnwritableError
from vssl_bench.evaluation.official_weights import PREFIXES
from vssl_bench.records import device_name, now, read_record, versions, write_record
from vssl_bench.rerun import evaluate_command

log = logging.getLogger(__name__)


def cell_label(cell: Cell, scratch: bool, ctx: RunContext) -> str:
    """The cell's folder under runs/: ``<method>-<backbone>-<data>-<scale>`` or ``scratch-<backbone>-<scale>``,
    with ``-seed<N>`` for seeds other than 0."""
    label = f"scratch-{cell.backbone}-{ctx.scale}" if scratch else cell.id(ctx.scale)
    return label if ctx.seed == 0 else f"{label}-seed{ctx.seed}"


def load_cell_recipe(cell: Cell, ctx: RunContext, recipe_path: str | None = None) -> Recipe:
    return load_recipe(recipe_path or experiments_dir().parent / cell.recipe, ctx.scale)


def trainer_flags(options: TrainerOptions) -> list[str]:
    """The ``--trainer.*`` options that differ from the defaults, as a user would type them."""
    default = TrainerOptions()
    flags = []
    for f in fields(options):
        value = getattr(options, f.name)
        if value != getattr(default, f.name):
            flags += [f"--trainer.{f.name.replace('_', '-')}", str(value).lower() if isinstance(value, bool) else str(value)]
    return flags


def rerun_command(cell: Cell, scratch: bool, ctx: RunContext, recipe_path: str | None = None) -> str:
    """The one command that runs this cell alone, with the options the user gave (data root, seed,
    devices, precision, ...). Dry runs print it; records store it; the results page shows it."""
    return evaluate_command(str(recipe_path or cell.recipe), ctx.scale, data_root=ctx.data_root, seed=ctx.seed,
                            scratch=scratch, checkpoint_format=ctx.checkpoint_format, extra=trainer_flags(ctx.trainer))


def _record(ctx: RunContext, cell_id: str, stage: str, base: dict[str, Any], **fields: Any) -> Path:
    if not ranks.is_main():  # under DDP every rank runs the stage; one writes its record
        return ctx.runs / cell_id / f"{stage}.json"
    record = {**base, "stage": stage, "seed": ctx.seed, "versions": versions(), "device": device_name(),
              "scale": ctx.scale, **fields}
    return write_record(ctx.runs / cell_id / f"{stage}.json", record)


def _done(ctx: RunContext, cell_id: str, stage: str) -> dict[str, Any] | None:
    record = read_record(ctx.runs / cell_id / f"{stage}.json")
    return record if record and record.get("status") == "ok" else None




class CellRun:
    """The stages of one cell, each attempted once. On one process a failure is recorded and does not
    stop the others; under DDP it stops every rank (:mod:`vssl_bench.bench.ranks`). A results folder
    that cannot be written stops the sweep: every later stage would fail the same way."""

    def __init__(self, ctx: RunContext, cell_id: str, base: dict[str, Any], redo: bool) -> None:
        self.ctx, self.cell_id, self.base, self.redo = ctx, cell_id, base, redo
        self.failed: list[str] = []

    def attempt(self, stage: str, run: Callable[[], tuple[dict[str, Any], dict[str, Any]]],
                **fields_: Any) -> dict[str, Any] | None:
        done = None if self.redo else _done(self.ctx, self.cell_id, stage)
        if done is not None:
            log.info("%s/%s: already done, skipped", self.cell_id, stage)
            return done
        if self.redo:  # run again from the start, not from an earlier run's last epoch
            shutil.rmtree(self.ctx.work / self.cell_id / stage / "checkpoints", ignore_errors=True)
        started, t0 = now(), time.perf_counter()
        try:
            if self.ctx.world_size > 1:  # under DDP a failure on any rank stops every rank
                with ranks.failing_together(f"{self.cell_id}/{stage}", self.ctx.world_size):
                    metrics, extra = run()
            else:
                metrics, extra = run()
        except (ResultsUnwritableError, RankFailedError):
            raise
        except Exception as exc:  # noqa: BLE001 - a failing stage must not stop the sweep
            log.error("%s/%s failed: %s", self.cell_id, stage, exc)
            _record(self.ctx, self.cell_id, stage, self.base, status="failed", error=f"{type(exc).__name__}: {exc}",
                    traceback=traceback.format_exc(limit=8), started=started, wall_s=time.perf_counter() - t0,
                    metrics={}, **fields_)
            self.failed.append(f"{self.cell_id}/{stage}")
            return None
        finally:
            finish_logger(self.ctx)
        _record(self.ctx, self.cell_id, stage, self.base, status="ok", metrics=metrics, started=started,
                wall_s=round(time.perf_counter() - t0, 2), **fields_, **extra)
        return {"metrics": metrics, **extra}


def run_cell(cell: Cell, ctx: RunContext, recipe_path: str | None = None, scratch: bool = False,
             checkpoint: Path | None = None, sections: tuple[str, ...] = ("finetune", "retrieval"),
             redo: bool = False) -> list[str]:
    """Run the missing stages of one cell; returns the stages that failed.

    ``checkpoint`` evaluates that file instead of pretraining; ``sections`` limits the downstream
    protocols; ``redo`` runs stages again even where an ``ok`` record exists."""
    recipe = load_cell_recipe(cell, ctx, recipe_path)
    cell_id = cell_label(cell, scratch, ctx)
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise ConfigError(f"checkpoint {checkpoint} not found; pass a .ckpt from pretraining or a state_dict file.")
    weights = stages.checkpoint_facts(checkpoint, ctx.checkpoint_format) if checkpoint is not None else {}
    if weights.get("format") in PREFIXES:  # the authors' released weights: rows of their own
        cell_id = f"{cell_id}-official"
    base = {"method": "scratch" if scratch else cell.method, "backbone": recipe.backbone,
            "pretrain_data": "none" if scratch else recipe.data["dataset"],
            "paper_pretrain_data": "none" if scratch else cell.pretrain_data, "cell": cell_id,
            "recipe": str(recipe_path or cell.recipe), "extrapolated": recipe.extrapolated,
            "variant": "" if scratch else cell.variant, "command": rerun_command(cell, scratch, ctx, recipe_path)}
    if weights:
        base |= {"weights": weights, "source": "official weights" if weights["format"] in PREFIXES else "reproduced"}
    cell_run = CellRun(ctx, cell_id, base, redo)

    if not scratch and checkpoint is None:
        def pretrain() -> tuple[dict[str, Any], dict[str, Any]]:
            chosen, extra = stages.pretrain(recipe, ctx, cell_id)
            pretext = extra.pop("pretext")
            return {"pretext": pretext}, {"checkpoint": str(chosen), "config": recipe.to_dict(), **extra}

        done = cell_run.attempt("pretrain", pretrain, kind="pretrain", protocol="pretext",
                                dataset=recipe.data["dataset"], split="train")
        if done is None:
            return cell_run.failed
        checkpoint = Path(done["checkpoint"])
    init = {"checkpoint": str(checkpoint) if checkpoint else None}

    if "finetune" in sections and ctx.seed in (recipe.finetune.seeds or [ctx.seed]):
        for dataset, spec in recipe.finetune.datasets.items():
            for split in recipe.splits(dataset):
                stage = f"finetune-{dataset}" + (f"-split{split}" if split != 1 else "")
                at_split = recipe.with_split(dataset, split)
                config = asdict(at_split.finetune)

                def finetune(r: Recipe = at_split, d: str = dataset, s: str = stage, c: dict = config):
                    metrics, extra = stages.finetune(r, ctx, d, checkpoint, ctx.work / cell_id / s)
                    return metrics, {**init, "config": c, **extra}

                cell_run.attempt(stage, finetune, kind="finetune",
                                 protocol="linear-probe" if spec.linear_probe else "full-finetune",
                                 paper_protocol=recipe.finetune.protocol, dataset=dataset, split=split)
    if "retrieval" in sections and ctx.seed in (recipe.retrieval.seeds or [ctx.seed]):
        for dataset in recipe.retrieval.datasets:
            stage = f"retrieval-{dataset}"

            def retrieve(d: str = dataset, s: str = stage):
                metrics, extra = stages.retrieve(recipe, ctx, d, checkpoint, ctx.work / cell_id / s)
                return metrics, {**init, "config": asdict(recipe.retrieval), **extra}

            cell_run.attempt(stage, retrieve, kind="retrieval", protocol="nn-retrieval",
                             paper_protocol=recipe.retrieval.protocol, dataset=dataset, split=1)
    return cell_run.failed
