"""Sweeps: a grid's cells (and their random-init baselines) once per seed, locally or on SLURM, and
the dry run that prints what a sweep would do, stage by stage, at the devices given."""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace

import torch

from vssl_bench.backbones import check_training_precision
from vssl_bench.bench.grids import Cell, grid, grid_sections
from vssl_bench.bench.runner import cell_label, load_cell_recipe, rerun_command, run_cell
from vssl_bench.bench.slurm import SlurmOptions, sbatch_header, submit, wait
from vssl_bench.bench.slurm import check as check_slurm
from vssl_bench.bench.stages import finetune_plan, pretrain_lr, pretrain_plan, retrieval_plan
from vssl_bench.bench.trainer import RunContext, on_cpu
from vssl_bench.errors import ConfigError, ResultsUnwritableError, VsslBenchError

# Every row of the quick scale is the mean over these seeds (its tables show mean +- std); the paper
# scale runs seed 0 unless --seeds says otherwise.
QUICK_SEEDS = (0, 1, 2)


@dataclass
class SweepProgress:
    """The sweep's own status line, printed between Lightning's bars: cells done / running / failed,
    elapsed time and a naive estimate of the rest.

    ``parallel``: cells run at once. With more than one, the cells still running when a line is printed
    count as half done: when the first of two cells started together finishes, the other is nearly done
    too, and a rate of one cell per elapsed time would have doubled the estimate of the rest."""

    total: int
    done: int = 0
    failed_cells: int = 0
    started: float = field(default_factory=time.perf_counter)
    parallel: int = 1

    def line(self, running: str | None = None) -> str:
        elapsed = time.perf_counter() - self.started
        parts = [f"{self.done}/{self.total} cells done", f"{self.failed_cells} failed",
                 f"elapsed {_clock(elapsed)}"]
        if running:
            parts.insert(1, f"running {running}")
        if 0 < self.done < self.total:
            half = min(self.parallel, self.total - self.done) / 2 if self.parallel > 1 else 0
            parts.append(f"about {_clock(elapsed * (self.total - self.done - half) / (self.done + half))} left")
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


def stage_lines(cell: Cell, scratch: bool, ctx: RunContext,
                sections: tuple[str, ...] = ("finetune", "retrieval")) -> list[str]:
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
        if "finetune" in sections and ctx.seed in (recipe.finetune.seeds or [ctx.seed]):
            for dataset, spec in recipe.finetune.datasets.items():
                plan = finetune_plan(recipe, ctx, dataset, sync)
                kind = "linear probe" if spec.linear_probe else "fine-tune"
                lines.append(f"    {kind} {dataset}: {plan.describe()}; lr {spec.lr:g}")
        if "retrieval" in sections and ctx.seed in (recipe.retrieval.seeds or [ctx.seed]):
            plan = retrieval_plan(recipe, ctx)
            lines.append(f"    retrieval {', '.join(recipe.retrieval.datasets)}: batch {plan.global_batch} = "
                         f"{plan.per_device} x {plan.devices} (features only: no gradients, BatchNorm in eval mode)")
        return lines
    except VsslBenchError as exc:
        return [f"    cannot run: {exc}"]


def dry_run_lines(jobs: list[tuple[Cell, bool]], ctx: RunContext,
                  sections: tuple[str, ...] = ("finetune", "retrieval"), slurm: SlurmOptions | None = None) -> list[str]:
    """What a sweep would run: per cell, the command that runs it alone, then one line per stage (and,
    with the slurm launcher, the sbatch header of its job)."""
    lines = []
    downstream = " + ".join({"finetune": "fine-tune", "retrieval": "retrieval"}[s] for s in sections)
    for c, scratch in jobs:
        stages = f"{downstream} from random init" if scratch else f"pretrain -> {downstream.replace(' + ', ' -> ')}"
        lines.append(f"{cell_label(c, scratch, ctx)}: {stages}\n    {rerun_command(c, scratch, ctx)}")
        lines += stage_lines(c, scratch, ctx, sections)
        if slurm is not None:
            name = cell_label(c, scratch, ctx)
            lines += ["    " + line for line in sbatch_header(slurm, ctx, name, ctx.work.resolve() / "slurm" / name)]
    return lines


def sweep(grid_name: str, ctx: RunContext, launcher: str = "local", dry_run: bool = False,
          baselines: bool = True, seeds: list[int] | tuple[int, ...] | None = None, jobs: int | str = 1,
          slurm: SlurmOptions | None = None) -> int:
    """Run a grid once per seed (default: ``ctx.seed``); returns the number of failed stages.
    ``jobs`` > 1 runs that many cells at once in their own processes (local launcher, CPU only), each
    on its share of the cores: small CPU trainings use one core far better than two; ``"auto"``: one
    per core on CPU, one on a GPU."""
    contexts = [replace(ctx, seed=s) for s in (seeds if seeds else [ctx.seed])]
    jobs_list = sweep_jobs(grid_name, baselines)
    sections = grid_sections(grid_name)
    if launcher not in ("local", "slurm"):
        raise ConfigError(f"launcher={launcher!r}: use local or slurm.")
    jobs = resolve_jobs(jobs, ctx)
    if jobs > 1 and launcher != "local":
        raise ConfigError(f"jobs={jobs} runs cells at once with the local launcher; the {launcher} launcher "
                          "runs one job per cell already: leave --jobs out.")
    slurm = (slurm or SlurmOptions()) if launcher == "slurm" else None
    if slurm is not None:
        check_slurm(slurm, ctx)
    if dry_run:
        print("\n".join(line for c in contexts for line in dry_run_lines(jobs_list, c, sections, slurm)))
        return 0
    runs = [(c, scratch, context) for context in contexts for c, scratch in jobs_list]
    failed: list[str] = []
    if jobs > 1 and not on_cpu(ctx):
        raise ConfigError(f"jobs={jobs}: cells run at once only on CPU; on GPUs use --trainer.devices (one cell, "
                          "all devices) or the slurm launcher (one job per cell).")
    if slurm is not None:
        failed = _slurm(runs, ctx, sections, slurm)
    else:
        check_training_precision(torch.device("cpu" if on_cpu(ctx) else "cuda"), ctx.trainer.precision)
        failed = _local(runs, ctx, jobs, sections)
    seeds_note = f" x {len(contexts)} seeds" if len(contexts) > 1 else ""
    print(f"sweep {grid_name}: {len(jobs_list)} cells{seeds_note}, {len(failed)} failed stages" + (":" if failed else "."))
    for f in failed:
        print(f"  FAILED {f}")
    return len(failed)


def resolve_jobs(jobs: int | str, ctx: RunContext) -> int:
    if jobs == "auto":
        return (ctx.cores or len(os.sched_getaffinity(0))) if on_cpu(ctx) else 1
    if isinstance(jobs, str) and jobs.isdigit():
        jobs = int(jobs)
    if not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs={jobs!r}: give a number of cells to run at once (1 or more) or auto.")
    return jobs


def _local(runs: list[tuple[Cell, bool, RunContext]], ctx: RunContext, jobs: int,
           sections: tuple[str, ...]) -> list[str]:
    progress = SweepProgress(total=len(runs))
    failed: list[str] = []
    if jobs == 1:
        for c, scratch, context in runs:
            print(progress.line(running=cell_label(c, scratch, context)), flush=True)
            cell_failed = run_cell(c, context, scratch=scratch, sections=sections)
            progress.finish(cell_failed)
            failed += cell_failed
        print(progress.line(), flush=True)
        return failed
    progress.parallel = jobs
    cores = max(1, (ctx.cores or len(os.sched_getaffinity(0))) // jobs)
    # the costliest cells first (pretrainings before random-init baselines), so none is left alone at the end
    ordered = sorted(runs, key=lambda run: run[1])
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
    try:
        submitted = {pool.submit(run_cell, c, replace(context, cores=cores), scratch=scratch, sections=sections):
                     (c, scratch, context) for c, scratch, context in ordered}
        print(progress.line(running=f"{jobs} cells at a time, {cores} core{'s' if cores > 1 else ''} each"), flush=True)
        for future in as_completed(submitted):
            c, scratch, context = submitted[future]
            try:
                cell_failed = future.result()
            except ResultsUnwritableError:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            except Exception as exc:  # noqa: BLE001 - a cell that could not start is a failed cell, not a lost sweep
                cell_failed = [f"{cell_label(c, scratch, context)}: {exc}"]
            progress.finish(cell_failed)
            failed += cell_failed
            print(progress.line() + f" (finished {cell_label(c, scratch, context)})", flush=True)
    except KeyboardInterrupt:  # stop at once: cells not started are dropped, finished ones kept their records
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return failed


def _slurm(runs: list[tuple[Cell, bool, RunContext]], ctx: RunContext, sections: tuple[str, ...],
           options: SlurmOptions) -> list[str]:
    """One job per cell (:mod:`vssl_bench.bench.slurm`); waits for all of them, requeues included."""
    jobs = submit(runs, ctx, sections, options, cell_label)
    progress = SweepProgress(total=len(runs))
    print(progress.line(running=f"{len(jobs)} jobs submitted ({', '.join(jobs)}); their files: "
                                f"{ctx.work.resolve() / 'slurm'}"), flush=True)
    return wait(jobs, options.poll_s, progress, lambda line: print(line, flush=True))
