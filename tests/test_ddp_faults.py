"""A 2-process CPU DDP run (gloo) of the `vssl-bench` command, as users launch one: what each rank
draws, who writes the shared files, and what a failure or a killed rank leaves behind. The command runs
through ``ddp_faults_run.py``, which records each rank's draws and writes (Lightning starts rank 1 as
a copy of that command line)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch.distributed as dist

from vssl_bench.errors import ResultsUnwritableError
from vssl_bench.records import write_record

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not built in")

SCRIPT = Path(__file__).with_name("ddp_faults_run.py")
CELL = "pace-r3d10-ucf101-quick"
TWO_RANKS = ["--scale", "quick", "--trainer.devices", "2", "--trainer.accelerator", "cpu", "--trainer.strategy", "ddp",
             "--trainer.num-workers", "0", "--trainer.limit-train-batches", "3"]
PRETRAIN = ["pretrain", "--method", "pace", "--backbone", "r3d10", *TWO_RANKS]


def _launch(out: Path, args: list[str], results: Path, fault: str = "", wait: bool = True):
    env = {k: v for k, v in os.environ.items() if k not in ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE")}
    env |= {"FAULT_OUT": str(out), "FAULT": fault, "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = [sys.executable, str(SCRIPT), *args, "--results", str(results)]
    if not wait:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the timeout is far below the collective timeout (30 minutes): a run left hanging fails here
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)


def _draws(out: Path, rank: int) -> list[dict]:
    return [json.loads(line) for line in (out / f"draws-rank{rank}.jsonl").read_text().splitlines()]


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_each_rank_draws_its_own_augmentation_and_a_rerun_draws_the_same(tmp_path):
    for run in ("first", "again"):
        proc = _launch(tmp_path / run, [*PRETRAIN, "--trainer.max-epochs", "2"], tmp_path / f"results-{run}")
        assert proc.returncode == 0, proc.stderr[-3000:]
    first = [_draws(tmp_path / "first", r) for r in (0, 1)]
    assert len(first[0]) == len(first[1]) == 6  # 3 batches x 2 epochs on each rank
    for mine, theirs in zip(*first):
        assert mine["rng"] != theirs["rng"]  # batch slot j of rank 0 and of rank 1: different draws
        assert not set(mine["index"]) & set(theirs["index"])
    assert len({d["rng"] for d in first[0]}) == 6  # and every step its own
    for rank in (0, 1):
        assert _draws(tmp_path / "again", rank) == first[rank]  # same seed, same devices: the same draws


def test_rank_zero_alone_writes_the_leaderboard_once_and_whole(tmp_path):
    args = ["run", "--grid", "smoke", "--seeds", "[0]", "--baselines", "false", *TWO_RANKS,
            "--trainer.max-epochs", "1", "--trainer.limit-test-batches", "2"]
    proc = _launch(tmp_path / "out", args, tmp_path / "results")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "out" / "writes-rank0.txt").read_text() == "write\n"
    assert not (tmp_path / "out" / "writes-rank1.txt").exists()
    md = (tmp_path / "results" / "leaderboard.md").read_text()
    assert "Pace (R3D-10, Synthetic)" in md  # the last stage's record made it in
    assert not list((tmp_path / "results").rglob("*.tmp"))


def test_an_exception_on_rank_1_stops_both_ranks_with_one_line_and_a_rerun_resumes(tmp_path):
    args = [*PRETRAIN, "--trainer.max-epochs", "3"]
    proc = _launch(tmp_path / "out", args, tmp_path / "results", fault="raise")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = _errors(proc.stderr)
    assert sum(f"rank 1 of 2 failed during {CELL}/pretrain: ValueError: injected fault on rank 1" in e
               for e in errors) == 1, errors
    assert all("rank 1 of 2 failed" in e or "lost contact with another rank" in e for e in errors)
    again = _launch(tmp_path / "again", args, tmp_path / "results")
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{CELL}/pretrain: resuming from" in again.stderr and "(1 epoch done, step 3)" in again.stderr


def test_a_killed_rank_ends_the_run_in_seconds_with_one_line_and_a_rerun_resumes(tmp_path):
    args = [*PRETRAIN, "--trainer.max-epochs", "6"]
    run = _launch(tmp_path / "out", args, tmp_path / "results", wait=False)
    last = tmp_path / "results" / "work" / CELL / "pretrain" / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 180
    while not last.exists() and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    assert last.exists(), run.communicate()[1][-3000:]
    os.kill(int((tmp_path / "out" / "pid-rank1").read_text()), signal.SIGKILL)
    _, stderr = run.communicate(timeout=120)  # seconds, not gloo's or NCCL's collective timeout
    assert run.returncode != 0 and "Traceback" not in stderr, stderr[-3000:]
    errors = _errors(stderr)
    assert len(errors) == 1 and f"rank 0 of 2: lost contact with another rank during {CELL}/pretrain" in errors[0]
    again = _launch(tmp_path / "again", args, tmp_path / "results")
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{CELL}/pretrain: resuming from {last}" in again.stderr and "(0 epochs done" not in again.stderr


def test_a_full_disk_is_one_error_naming_the_path_and_the_space_needed(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a 1 MB tmpfs needs root")
    try:
        proc = subprocess.run([sys.executable, "-m", "vssl_bench.cli", "run", "--grid", "smoke", "--scale", "quick",
                               "--seeds", "[0]", "--baselines", "false", "--results", str(small),
                               "--trainer.accelerator", "cpu", "--trainer.max-epochs", "1",
                               "--trainer.limit-train-batches", "2"], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
        (error,) = _errors(proc.stderr)
        assert f"cannot write {small}/work/{CELL}/pretrain/checkpoints/last.ckpt: no space left" in error
        assert "free; it needs" in error and "MB" in error
        assert not list(small.rglob("*.ckpt")) and not list(small.rglob("*.tmp"))  # nothing half-written
        assert not list(small.rglob("runs/**/*.json"))
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)


def test_a_record_that_cannot_be_written_leaves_no_part_of_itself(tmp_path, monkeypatch):
    path = tmp_path / "runs" / "cell" / "pretrain.json"
    write_record(path, {"status": "ok"})

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(ResultsUnwritableError, match=r"cannot write .*pretrain\.json: no space left .* it needs"):
        write_record(path, {"status": "ok", "metrics": {"top1": 1.0}})
    assert json.loads(path.read_text()) == {"status": "ok"} and not list(path.parent.glob("*.tmp"))
