"""The SLURM launcher: one batch job per cell, one task per device, requeued before its time runs out.

Each job runs every missing stage of its cell (pretrain -> fine-tune -> retrieval) with
``srun --kill-on-bad-exit``: the tasks are the DDP ranks (Lightning reads their ranks from Slurm), and
a task that fails stops the others at once. ``time - requeue_grace_s`` into the job, Slurm signals the
batch script, which requeues the job (``scontrol requeue``); a job preempted or requeued by hand comes
back the same way. A returning job skips the stages that have records and resumes the one it was in
from that stage's ``last.ckpt`` (written every epoch), saying so in its log, so the records of a
requeued run equal an uninterrupted run's. The sweep waits, polling ``squeue`` (no accounting
database needed), until every job has left the queue, and reads each cell's result file.

Files, under ``<results>/work/slurm/<cell>/``: ``job.sh`` (the batch script, its header first),
``spec.json`` (what the tasks run), ``<jobid>.log`` (the batch script's output), ``<jobid>.task<N>.log``
(each task's, appended across requeues), ``result.json`` (rank 0's list of failed stages).
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vssl_bench.bench.grids import Cell
from vssl_bench.bench.trainer import RunContext, TrainerOptions
from vssl_bench.errors import ConfigError, VsslBenchError
from vssl_bench.records import write_atomic

log = logging.getLogger(__name__)


@dataclass
class SlurmOptions:
    """What each job asks the scheduler for (``--slurm.<name>``). Nodes come from
    ``--trainer.num-nodes`` and devices (GPUs, or CPU processes with ``--trainer.accelerator cpu``) per
    node from ``--trainer.devices``; each device is one task.

    Args:
        partition: the partition (queue); the cluster's default when unset.
        account: the account charged, where the cluster asks for one.
        qos: the quality of service.
        time: each job's time limit, ``[days-]hours:minutes:seconds`` or minutes. A stage that needs
            longer is requeued and resumed, so any limit works; longer ones waste less.
        cpus_per_task: CPU cores per task (per device): its loader workers are these less one.
        mem_per_task: memory per task (per device), e.g. ``64G``.
        constraint: node features, e.g. ``a100|h100``.
        requeue_grace_s: how long before the time limit the job requeues itself (at least 60 s).
        poll_s: seconds between two looks at the queue.
        extra: other sbatch options, as typed, e.g. ``["--exclusive", "--reservation=r1"]``.
    """

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time: str = "24:00:00"
    cpus_per_task: int = 10
    mem_per_task: str = "64G"
    constraint: str | None = None
    requeue_grace_s: int = 300
    poll_s: float = 30.0
    extra: list[str] = field(default_factory=list)


# sbatch options this launcher sets itself; `extra` may not set them again
MANAGED = ("--nodes", "-N", "--ntasks", "-n", "--ntasks-per-node", "--cpus-per-task", "-c", "--gres", "--gpus",
           "-G", "--gpus-per-node", "--mem", "--mem-per-cpu", "--mem-per-gpu", "--output", "-o", "--error", "-e",
           "--signal", "--requeue", "--no-requeue", "--job-name", "-J", "--partition", "-p", "--account", "-A",
           "--qos", "-q", "--time", "-t", "--constraint", "-C", "--open-mode")
OPTION_OF = {"--partition": "partition", "-p": "partition", "--account": "account", "-A": "account",
             "--qos": "qos", "-q": "qos", "--time": "time", "-t": "time", "--constraint": "constraint",
             "-C": "constraint", "--cpus-per-task": "cpus_per_task", "-c": "cpus_per_task", "--mem": "mem_per_task"}
TIME = re.compile(r"^(\d+-)?\d+(:\d{1,2}){0,2}$")
MEMORY = re.compile(r"^(\d+)([KMGT]?)B?$", re.IGNORECASE)


def check(options: SlurmOptions, ctx: RunContext) -> tuple[int, bool]:
    """The devices per node and whether they are GPUs, after checking every option; an error names
    the option and the fix."""
    devices, accelerator = ctx.trainer.devices, ctx.trainer.accelerator
    if isinstance(devices, str) and devices.isdigit():
        devices = int(devices)
    if not isinstance(devices, int) or devices < 1:
        raise ConfigError(f"trainer.devices={devices!r}: with --launcher slurm give the number of devices per node "
                          "(--trainer.devices 8); Slurm chooses which ones.")
    if ctx.trainer.num_nodes < 1:
        raise ConfigError(f"trainer.num_nodes={ctx.trainer.num_nodes}: give 1 or more.")
    if accelerator not in ("auto", "gpu", "cuda", "cpu"):
        raise ConfigError(f"trainer.accelerator={accelerator!r}: the slurm launcher runs gpu (the default) or cpu jobs.")
    if not TIME.match(options.time):
        raise ConfigError(f"slurm.time={options.time!r}: give [days-]hours:minutes:seconds (24:00:00) or minutes (1440).")
    if not MEMORY.match(options.mem_per_task):
        raise ConfigError(f"slurm.mem_per_task={options.mem_per_task!r}: give a size such as 64G or 16000M.")
    if options.cpus_per_task < 1:
        raise ConfigError(f"slurm.cpus_per_task={options.cpus_per_task}: give 1 or more.")
    if options.requeue_grace_s < 60 or options.requeue_grace_s >= time_limit_s(options.time):
        raise ConfigError(f"slurm.requeue_grace_s={options.requeue_grace_s}: give at least 60 s and less than "
                          f"slurm.time ({options.time}).")
    if options.poll_s <= 0:
        raise ConfigError(f"slurm.poll_s={options.poll_s}: give a positive number of seconds.")
    for item in options.extra:
        name = item.split("=", 1)[0].split(" ", 1)[0]
        if not name.startswith("-"):
            raise ConfigError(f"slurm.extra: {item!r} is not an sbatch option (they start with --).")
        if name in MANAGED:
            own = OPTION_OF.get(name)
            fix = f"use --slurm.{own.replace('_', '-')}" if own else "it follows from --trainer.devices/num-nodes"
            raise ConfigError(f"slurm.extra: {name} is set by the launcher: {fix}.")
    return devices, accelerator != "cpu"


def time_limit_s(value: str) -> int:
    days, _, clock = value.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if len(parts) == 1:  # minutes
        seconds = parts[0] * 60
    else:
        parts = ([0] * (3 - len(parts)) + parts) if len(parts) < 3 else parts
        seconds = parts[0] * 3600 + parts[1] * 60 + parts[2]
    return seconds + int(days or 0) * 86400


def _megabytes(size: str) -> int:
    number, unit = MEMORY.match(size).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024**2}[unit.upper()]


def sbatch_header(options: SlurmOptions, ctx: RunContext, name: str, folder: Path) -> list[str]:
    """The ``#SBATCH`` lines of a cell's job (what ``--dry-run`` prints)."""
    devices, gpus = check(options, ctx)
    lines = [f"--job-name=vssl-{name}", f"--nodes={ctx.trainer.num_nodes}", f"--ntasks-per-node={devices}",
             f"--cpus-per-task={options.cpus_per_task}",
             f"--mem={int(_megabytes(options.mem_per_task) * devices)}M",  # per node: tasks x memory per task
             f"--time={options.time}"]
    if gpus:
        lines.append(f"--gres=gpu:{devices}")
    for flag, value in (("partition", options.partition), ("account", options.account), ("qos", options.qos),
                        ("constraint", options.constraint)):
        if value:
            lines.append(f"--{flag}={value}")
    lines += ["--requeue", f"--signal=B:USR1@{options.requeue_grace_s}", "--open-mode=append",
              f"--output={folder}/%j.log", *options.extra]
    return [f"#SBATCH {line}" for line in lines]


def job_script(options: SlurmOptions, ctx: RunContext, name: str, folder: Path) -> str:
    """The batch script: the header, a USR1 trap that requeues the job, and the tasks under srun."""
    task = " ".join(shlex.quote(a) for a in (sys.executable, "-m", "vssl_bench.bench.slurm", str(folder / "spec.json")))
    return "\n".join([
        "#!/bin/bash",
        *sbatch_header(options, ctx, name, folder),
        f"# written by `vssl-bench run --launcher slurm` for cell {name}; submit again with: sbatch {folder}/job.sh",
        'echo "vssl-bench: job $SLURM_JOB_ID on $SLURM_JOB_NODELIST, start ${SLURM_RESTART_COUNT:-0} (0 = first)"',
        # bash runs a trap only between commands: srun goes to the background and the script waits on it
        "requeue() {",
        '  echo "vssl-bench: time limit near: requeueing job $SLURM_JOB_ID; it resumes from its last finished epoch"',
        '  scontrol requeue "$SLURM_JOB_ID"',
        "  exit 0",
        "}",
        "trap requeue USR1",
        f"srun --kill-on-bad-exit=1 --output={folder}/%j.task%t.log --open-mode=append {task} &",
        "wait $!",
        "status=$?",
        # a wait cut short by the trap returns >128 and the trap has already requeued; otherwise srun's own status
        'echo "vssl-bench: tasks ended with status $status"',
        "exit $status",
        "",
    ])


# --- the submitting side ---------------------------------------------------------------------------
def _spec(cell: Cell, scratch: bool, ctx: RunContext, sections: tuple[str, ...]) -> dict[str, Any]:
    context = asdict(ctx)
    context["results"] = str(Path(ctx.results).resolve())
    if ctx.data_root:
        context["data_root"] = str(Path(ctx.data_root).resolve())
    context["cores"] = None  # the job's own, from Slurm
    return {"cell": asdict(cell), "scratch": scratch, "sections": list(sections), "context": context}


def _sbatch(args: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["sbatch", *args], capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise ConfigError("the slurm launcher needs Slurm's sbatch on PATH: run on a login node of the cluster "
                          "(or use --launcher local).") from None


REFUSALS = (  # what sbatch says -> the options to change, and how to find a value that works
    (r"invalid partition", "--slurm.partition", "`sinfo -s` lists the partitions"),
    (r"invalid account|account", "--slurm.account", "`sacctmgr show assoc user=$USER` lists yours"),
    (r"qos", "--slurm.qos", "`sacctmgr show qos` lists them"),
    (r"generic resource|gres", "--slurm.partition or --trainer.accelerator cpu",
     "this partition declares no GPUs: choose a GPU partition, or run a CPU job"),
    (r"time limit", "--slurm.time", "`sinfo -o '%P %l'` shows each partition's limit"),
    (r"feature|constraint", "--slurm.constraint", "`sinfo -o '%N %f'` shows the nodes' features"),
    (r"node configuration is not available|processors|cpu count|memory|ntasks",
     "--trainer.devices, --slurm.cpus-per-task or --slurm.mem-per-task",
     "no node has that many devices, cores or that much memory: `sinfo -o '%N %c %m %G'` shows what nodes have"),
)


def refusal(stderr: str) -> str:
    """sbatch's refusal, as one line naming the option to change."""
    said = " ".join(line.removeprefix("sbatch: error: ").strip() for line in stderr.strip().splitlines()
                    if line.strip() and "Batch job submission failed" not in line) or stderr.strip() or "no reason given"
    for pattern, options, hint in REFUSALS:
        if re.search(pattern, said, re.IGNORECASE):
            return f"Slurm refused the job ({said}): change {options}; {hint}."
    return f"Slurm refused the job ({said}); see `sbatch --help` and your cluster's documentation."


def submit(runs: list[tuple[Cell, bool, RunContext]], ctx: RunContext, sections: tuple[str, ...],
           options: SlurmOptions, label) -> dict[str, tuple[str, Path]]:
    """Write every cell's job and submit it; ``{job id: (cell, folder)}``. The first job is tested
    with ``sbatch --test-only``, so a request the cluster cannot meet is refused before any is queued."""
    jobs: dict[str, tuple[str, Path]] = {}
    scripts = []
    for cell, scratch, context in runs:
        name = label(cell, scratch, context)
        folder = (ctx.work / "slurm" / name).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / "spec.json", json.dumps(_spec(cell, scratch, context, sections), indent=2))
        write_atomic(folder / "job.sh", job_script(options, context, name, folder))
        (folder / "result.json").unlink(missing_ok=True)
        scripts.append((name, folder))
    if scripts:
        test = _sbatch(["--test-only", str(scripts[0][1] / "job.sh")])
        if test.returncode != 0:
            raise ConfigError(refusal(test.stderr))
    for name, folder in scripts:
        done = _sbatch(["--parsable", str(folder / "job.sh")])
        if done.returncode != 0:
            raise ConfigError(refusal(done.stderr))
        jobs[done.stdout.strip().split(";")[0]] = (name, folder)
    return jobs


WAITING = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SUSPENDED",
           "STOPPED", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD", "SPECIAL_EXIT"}


def _queue(ids: list[str]) -> dict[str, str] | None:
    """``{job id: state}`` of the jobs still known to the queue; ``None`` when squeue did not answer."""
    try:
        out = subprocess.run(["squeue", "-h", "-o", "%i|%T", "-j", ",".join(ids)], capture_output=True, text=True,
                             timeout=60)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        # squeue refuses a list in which every job has left the queue: that is an answer too
        return {} if "Invalid job id" in out.stderr else None
    return dict(line.split("|", 1) for line in out.stdout.split() if "|" in line)


def wait(jobs: dict[str, tuple[str, Path]], poll_s: float, progress, report) -> list[str]:
    """Wait for every job to leave the queue (a requeued job comes back as pending and is waited for);
    each finished job's failed stages, or its failure with the path of its logs."""
    failed: list[str] = []
    left, seen, silent = dict(jobs), {}, 0
    while left:
        states = _queue(list(left))
        if states is None:
            silent += 1
            if silent == 1:
                print(f"slurm: squeue did not answer; trying again every {poll_s:g} s", flush=True)
            if silent * poll_s > 3600:
                raise VsslBenchError("slurm: squeue has not answered for an hour; the jobs go on: rerun the same "
                                     "command later to collect them (finished stages are kept).")
            time.sleep(poll_s)
            continue
        silent = 0
        for job, (name, folder) in list(left.items()):
            state = states.get(job, "")
            if state and state != seen.get(job):
                if seen.get(job) in ("RUNNING", "COMPLETING") and state in WAITING:
                    print(f"slurm: job {job} ({name}) requeued; it resumes from its last finished epoch", flush=True)
                seen[job] = state
            if state in WAITING or state in ("RUNNING", "COMPLETING"):
                continue
            del left[job]
            cell_failed = _outcome(job, name, folder, state)
            progress.finish(cell_failed)
            failed += cell_failed
            report(progress.line() + f" (job {job}, {name}: {state.lower() or 'left the queue'})")
        if left:
            time.sleep(poll_s)
    return failed


def _outcome(job: str, name: str, folder: Path, state: str) -> list[str]:
    try:
        return list(json.loads((folder / "result.json").read_text())["failed"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        logs = sorted(folder.glob(f"{job}.task*.log"))
        cause = next((line.strip() for p in logs for line in p.read_text(errors="replace").splitlines()
                      if line.startswith("error:")), "")
        where = f"{folder}/{job}.task*.log" if logs else f"{folder}/{job}.log"
        return [f"{name} (job {job}, {state.lower() or 'gone'}): {cause or 'ended without a result'}; logs: {where}"]


# --- the task side: `python -m vssl_bench.bench.slurm spec.json` on every rank ------------------------
def run_task(spec_path: Path) -> int:
    from vssl_bench.bench import ranks
    from vssl_bench.bench.runner import run_cell

    spec = json.loads(Path(spec_path).read_text())
    context = dict(spec["context"])
    context["results"], context["trainer"] = Path(context["results"]), TrainerOptions(**context["trainer"])
    ctx = RunContext(**context)
    try:
        failed = run_cell(Cell(**spec["cell"]), ctx, scratch=spec["scratch"], sections=tuple(spec["sections"]))
    except VsslBenchError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    if ranks.is_main():
        write_atomic(Path(spec_path).with_name("result.json"), json.dumps({"failed": failed}))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from vssl_bench.bench.ranks import follow_launcher

    follow_launcher()
    sys.exit(run_task(Path(sys.argv[1])))
