"""The SLURM launcher: its options and sbatch header everywhere, and against a real single-node Slurm
where one runs (`.ci/slurm-up` starts one in CI: Debian's slurm-wlm, a node with 2 GPU slots on dummy
devices, jobs on CPU): a 2-task DDP cell, a job requeued mid-pretraining, a refused request."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vssl_bench.bench.slurm import (
    SlurmOptions,
    _outcome,
    check,
    job_script,
    refusal,
    sbatch_header,
    time_limit_s,
)
from vssl_bench.bench.trainer import RunContext, TrainerOptions
from vssl_bench.errors import ConfigError


def _ctx(**trainer) -> RunContext:
    return RunContext(scale="quick", trainer=TrainerOptions(**trainer))


def test_header_asks_for_one_task_per_device_and_gpus_only_for_gpu_jobs(tmp_path):
    options = SlurmOptions(partition="gpu", account="lab", qos="high", time="2-00:00:00", cpus_per_task=12,
                           mem_per_task="80G", constraint="h100", extra=["--exclusive"])
    gpu = sbatch_header(options, _ctx(devices=8, num_nodes=2), "cell", tmp_path)
    for line in ("--nodes=2", "--ntasks-per-node=8", "--cpus-per-task=12", f"--mem={80 * 1024 * 8}M",
                 "--gres=gpu:8", "--partition=gpu", "--account=lab", "--qos=high", "--time=2-00:00:00",
                 "--constraint=h100", "--requeue", "--signal=B:USR1@300", "--exclusive"):
        assert f"#SBATCH {line}" in gpu
    cpu = sbatch_header(SlurmOptions(), _ctx(devices=2, accelerator="cpu"), "cell", tmp_path)
    assert not any("gres" in line or "gpu" in line for line in cpu)
    script = job_script(SlurmOptions(), _ctx(devices=2, accelerator="cpu"), "cell", tmp_path)
    assert "trap requeue USR1" in script and "srun --kill-on-bad-exit=1" in script and "scontrol requeue" in script


@pytest.mark.parametrize(("options", "trainer", "named"), [
    (SlurmOptions(), {"devices": "auto"}, "trainer.devices"),
    (SlurmOptions(), {"devices": "0,1"}, "trainer.devices"),
    (SlurmOptions(time="a day"), {"devices": 1}, "slurm.time"),
    (SlurmOptions(mem_per_task="lots"), {"devices": 1}, "slurm.mem_per_task"),
    (SlurmOptions(cpus_per_task=0), {"devices": 1}, "slurm.cpus_per_task"),
    (SlurmOptions(time="00:05:00"), {"devices": 1}, "slurm.requeue_grace_s"),
    (SlurmOptions(extra=["--gres=gpu:4"]), {"devices": 1}, "--gres is set by the launcher"),
    (SlurmOptions(extra=["--time=1:00:00"]), {"devices": 1}, "--slurm.time"),
    (SlurmOptions(extra=["exclusive"]), {"devices": 1}, "not an sbatch option"),
])
def test_bad_options_are_refused_naming_the_option(options, trainer, named):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        check(options, _ctx(**trainer))


def test_time_limits_and_refusals_read_as_slurm_writes_them():
    assert time_limit_s("24:00:00") == 86400 and time_limit_s("1-12:00:00") == 129600 and time_limit_s("90") == 5400
    said = "sbatch: error: Batch job submission failed: Requested node configuration is not available"
    assert "--slurm.cpus-per-task" in refusal(said) and "\n" not in refusal(said)
    assert "--slurm.partition" in refusal("sbatch: error: invalid partition specified: nope")
    assert "--trainer.accelerator cpu" in refusal("sbatch: error: Invalid generic resource (gres) specification")


def test_a_job_that_left_no_result_fails_its_cell_with_its_cause_and_logs(tmp_path):
    (tmp_path / "7.task1.log").write_text("INFO something\nerror: rank 1 of 2 failed during c/pretrain: OSError: x\n")
    (line,) = _outcome("7", "c", tmp_path, "FAILED")
    assert "job 7, failed" in line and "rank 1 of 2 failed during c/pretrain" in line and f"{tmp_path}/7.task*.log" in line


def test_an_unknown_slurm_option_is_refused_by_name():
    proc = subprocess.run([sys.executable, "-m", "vssl_bench.cli", "run", "--launcher", "slurm", "--slurm.partitoin",
                           "gpu", "--dry-run"], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "partitoin" in proc.stderr and "Traceback" not in proc.stderr


# --- against a real Slurm ---------------------------------------------------------------------------
def _slurm_answers() -> str:
    if shutil.which("sbatch") is None:
        return "Slurm's client is not installed (.ci/slurm-up installs and starts a single-node Slurm as root)"
    try:
        up = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer"
    if up.returncode != 0 or not any(s in up.stdout for s in ("idle", "mixed", "alloc")):
        return f"no Slurm controller with a usable node answers (sinfo: {(up.stderr or up.stdout).strip()[:200]})"
    return ""


needs_slurm = pytest.mark.skipif(bool(_slurm_answers()), reason=_slurm_answers() or "Slurm is up")

# a 2-task (2 CPU processes, gloo) DDP cell, short enough for CI
CELL = ["run", "--grid", "smoke", "--scale", "quick", "--launcher", "slurm", "--seeds", "[0]", "--baselines", "false",
        "--trainer.devices", "2", "--trainer.accelerator", "cpu", "--trainer.max-epochs", "3",
        "--trainer.limit-train-batches", "4", "--trainer.limit-test-batches", "4",
        "--slurm.cpus-per-task", "1", "--slurm.mem-per-task", "2G", "--slurm.poll-s", "1"]
CELL_ID = "pace-r3d10-ucf101-quick"


def _command(results: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "vssl_bench.cli", *CELL, "--results", str(results), *extra]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "LOCAL_RANK"))}
    return env | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def _metrics(results: Path) -> dict[str, dict]:
    out = {}
    for path in sorted((results / "runs" / CELL_ID).glob("*.json")):
        record = json.loads(path.read_text())
        assert record["status"] == "ok", record.get("error")
        out[path.stem] = {"metrics": record["metrics"], "steps": record.get("steps"), "batch": record["batch"]}
    return out


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("slurm-uninterrupted")
    proc = subprocess.run(_command(results), capture_output=True, text=True, timeout=600, env=_env())
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "1 cells, 0 failed stages" in proc.stdout
    return results


@needs_slurm
def test_a_two_task_ddp_cell_finishes_with_every_record(uninterrupted):
    records = _metrics(uninterrupted)
    assert set(records) == {"pretrain", "finetune-synthetic", "retrieval-synthetic"}
    assert records["pretrain"]["batch"]["devices"] == 2  # one DDP run over the job's two tasks
    folder = uninterrupted / "work" / "slurm" / CELL_ID
    assert json.loads((folder / "result.json").read_text()) == {"failed": []}
    script = (folder / "job.sh").read_text()
    assert "--ntasks-per-node=2" in script and "gres" not in script  # a CPU job asks for no GPU
    assert len(list(folder.glob("*.task*.log"))) == 2


@needs_slurm
def test_a_job_requeued_mid_pretraining_resumes_and_ends_as_an_uninterrupted_one(uninterrupted, tmp_path):
    """The time-limit path: the batch script gets USR1 (``--signal=B:USR1@grace``) and requeues its job;
    the job comes back, resumes pretraining from its last.ckpt and ends with the same records."""
    sweep = subprocess.Popen(_command(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=_env())
    try:
        last = tmp_path / "work" / CELL_ID / "pretrain" / "checkpoints" / "last.ckpt"
        deadline = time.monotonic() + 300
        while not last.exists() and time.monotonic() < deadline and sweep.poll() is None:
            time.sleep(0.05)
        assert last.exists(), "pretraining wrote no last.ckpt"
        job = (tmp_path / "work" / "slurm" / CELL_ID / "job.sh").parent
        job_id = next(job.glob("*.log")).name.split(".")[0]
        # what Slurm sends the batch script --slurm.requeue-grace-s before the time limit: its trap requeues
        subprocess.run(["scancel", "--batch", "--signal=USR1", job_id], check=True, timeout=30)
        assert not (tmp_path / "runs" / CELL_ID / "pretrain.json").exists(), "pretraining ended before the requeue"
        # Slurm holds a requeued job for two minutes before it may start again; a test need not wait
        for _ in range(60):
            state = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True).stdout
            if "PENDING" in state:
                subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], timeout=30)
                break
            time.sleep(0.5)
        out, _ = sweep.communicate(timeout=600)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode == 0, out[-3000:]
    assert "requeued" in out and "1 cells, 0 failed stages" in out
    batch_log = (tmp_path / "work" / "slurm" / CELL_ID / f"{job_id}.log").read_text()
    assert "time limit near: requeueing job" in batch_log and "start 1" in batch_log
    task_log = (tmp_path / "work" / "slurm" / CELL_ID / f"{job_id}.task0.log").read_text()
    assert f"{CELL_ID}/pretrain: resuming from {last}" in task_log
    assert _metrics(tmp_path) == _metrics(uninterrupted)


@needs_slurm
@pytest.mark.parametrize(("extra", "named"), [
    (["--slurm.cpus-per-task", "64"], "--slurm.cpus-per-task"),
    (["--slurm.partition", "no-such-partition"], "--slurm.partition"),
])
def test_a_request_the_cluster_cannot_meet_is_refused_in_one_line(tmp_path, extra, named):
    proc = subprocess.run(_command(tmp_path, *extra), capture_output=True, text=True, timeout=120, env=_env())
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and named in errors[0] and "Traceback" not in proc.stderr
    queued = subprocess.run(["squeue", "-h", "-n", f"vssl-{CELL_ID}"], capture_output=True, text=True).stdout
    assert not queued.strip()  # refused before any job was queued


@needs_slurm
def test_failed_stages_of_a_job_are_collected_as_the_cells_failures(tmp_path):
    """Each job's rank 0 lists its failed stages; the sweep reports them (paper scale, no data here)."""
    proc = subprocess.run([sys.executable, "-m", "vssl_bench.cli", "run", "--grid", "smoke", "--scale", "paper",
                           "--data-root", str(tmp_path / "no-data"), "--launcher", "slurm", "--baselines", "false",
                           "--trainer.devices", "1", "--trainer.accelerator", "cpu", "--slurm.cpus-per-task", "1",
                           "--slurm.mem-per-task", "1G", "--slurm.poll-s", "1", "--results", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env=_env())
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "1 cells, 1 failed stages" in proc.stdout and "FAILED pace-r3d10-ucf101-paper/pretrain" in proc.stdout
    record = json.loads((tmp_path / "runs" / "pace-r3d10-ucf101-paper" / "pretrain.json").read_text())
    assert record["status"] == "failed" and "no-data" in record["error"]
