"""Sweeps: a grid's cells (and their random-init baselines) once per seed, locally or on SLURM, and
the dry run that prints what a sweep would do, stage by stage, at the devices given."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import torch

from vssl_bench.backbones import check_training_precision
from vssl_bench.bench.grids import Cell, grid
from vssl_bench.bench.runner import cell_label, load_cell_recipe, rerun_command, run_cell
from vssl_bench.bench.stages import finetune_plan, pretrain_lr, pretrain_plan, retrieval_plan
from vssl_bench.bench.trainer import RunContext, on_cpu
from vssl_bench.errors import ConfigError, VsslBenchError

# Every row of the quick scale is the mean over these seeds (its tables show mean +- std); the paper
# scale runs seed 0 unless --seeds says otherwise.
QUICK_SEEDS = (0, 1, 2)


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


def stage_lines(cell: Cell, scratch: bool, ctx: RunContext) -> list[str]:
    """Per stage: its global batch split over the devices given, and the first step's LR."""
    try:
        recipe = load_cell_recipe(cell, ctx)
        sync = ctx.trainer.accelerator != "cpu"  # the devices named, not this machine's
        lines = []
        if not scratch:
            plan = pretrain_plan(recipe, ctx, sync)
            warmup = recipe.model.get("warmup_epochs", 0)
            note = f" after {warmup} warm-up epochs" if warmup else ""
            lines.append(f"    pretrain: {plan.describe()}; lr {pretrain_lr(recipe):g}{note}")
        if ctx.seed in (recipe.finetune.seeds or [ctx.seed]):
            for dataset, spec in recipe.finetune.datasets.items():
                plan = finetune_plan(recipe, ctx, dataset, sync)
                kind = "linear probe" if spec.linear_probe else "fine-tune"
                lines.append(f"    {kind} {dataset}: {plan.describe()}; lr {spec.lr:g}")
        if ctx.seed in (recipe.retrieval.seeds or [ctx.seed]):
            plan = retrieval_plan(recipe, ctx)
            lines.append(f"    retrieval {', '.join(recipe.retrieval.datasets)}: batch {plan.global_batch} = "
                         f"{plan.per_device} x {plan.devices} (features only: no gradients, BatchNorm in eval mode)")
        return lines
    except VsslBenchError as exc:
        return [f"    cannot run: {exc}"]


def dry_run_lines(jobs: list[tuple[Cell, bool]], ctx: RunContext) -> list[str]:
    """What a sweep would run: per cell, the command that runs it alone, then one line per stage."""
    lines = []
    for c, scratch in jobs:
        stages = "fine-tune + retrieval from random init" if scratch else "pretrain -> fine-tune -> retrieval"
        lines.append(f"{cell_label(c, scratch, ctx)}: {stages}\n    {rerun_command(c, scratch, ctx)}")
        lines += stage_lines(c, scratch, ctx)
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
