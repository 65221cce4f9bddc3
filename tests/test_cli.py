"""The command line as a user types it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vssl_bench.backbones import build_backbone
from vssl_bench.bench.commands import run
from vssl_bench.bench.recipes import experiments_dir
from vssl_bench.cli import main, normalise_options


def record(results, cell: str, stage: str) -> dict:
    return json.loads((results / "runs" / cell / f"{stage}.json").read_text())


def test_finetune_from_a_state_dict_and_retrieve_from_scratch(tmp_path, synthetic_root):
    weights = tmp_path / "backbone.pt"
    torch.save(build_backbone("r3d10", width=0.125).state_dict(), weights)
    main(["finetune", "--method", "pace", "--backbone", "r3d10", "--checkpoint", str(weights), "--scale", "quick",
          "--results", str(tmp_path), "--trainer.max_epochs", "1"])
    ft = record(tmp_path, "pace-r3d10-ucf101-quick", "finetune-synthetic")
    assert ft["status"] == "ok" and ft["checkpoint"] == str(weights)
    assert ft["metrics"]["loaded_tensors"] == len(torch.load(weights)) and ft["metrics"]["videos"] == 384
    main(["retrieve", "--config", str(experiments_dir() / "pace" / "r3d10_ucf101.yaml"), "--scale", "quick",
          "--results", str(tmp_path)])
    rt = record(tmp_path, "scratch-r3d10-quick", "retrieval-synthetic")
    assert rt["status"] == "ok" and rt["method"] == "scratch" and {"R@1", "R@50"} <= set(rt["metrics"])
    assert (tmp_path / "leaderboard.md").is_file()


def test_cli_errors_are_one_line_not_tracebacks(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["finetune", "--results", str(tmp_path)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: name a recipe")
    with pytest.raises(SystemExit):
        main(["finetune", "--method", "pace", "--backbone", "r3d10", "--checkpoint", str(tmp_path / "nope.pt"),
              "--scale", "quick", "--results", str(tmp_path)])
    err = capsys.readouterr().err
    assert err.startswith("error: checkpoint") and "nope.pt not found" in err


def test_options_are_read_as_people_type_them():
    assert normalise_options(["--data-root", "/d", "--dry-run"], run) == ["--data_root", "/d", "--dry_run", "true"]
    assert normalise_options(["--dry_run", "--grid", "pace"], run) == ["--dry_run", "true", "--grid", "pace"]
    assert normalise_options(["--dry-run", "false", "--trainer.progress-bar"], run) == [
        "--dry_run", "false", "--trainer.progress_bar", "true"]
    assert normalise_options(["--data-root=/d", "--seeds", "[0,1]"], run) == ["--data_root=/d", "--seeds", "[0,1]"]


def test_run_dry_run_accepts_both_spellings(capsys):
    main(["run", "--grid", "prp", "--dry-run"])
    dashed = capsys.readouterr().out
    main(["run", "--grid", "prp", "--dry_run"])
    assert capsys.readouterr().out == dashed and "prp-c3d-ucf101-quick" in dashed


def test_a_sweep_prints_status_lines_not_lightning_noise(tmp_path, synthetic_cache, synthetic_root):
    """What a user sees in the terminal: our status lines, and none of Lightning's product tips or its
    notices about choices this package makes on purpose."""
    command = ["vssl-bench", "run", "--grid", "smoke", "--scale", "quick", "--seeds", "[0]", "--results", str(tmp_path),
               "--trainer.max-epochs", "1", "--trainer.limit-train-batches", "2", "--trainer.limit-val-batches", "1",
               "--trainer.limit-test-batches", "1", "--trainer.num-workers", "0"]
    done = subprocess.run([str(Path(sys.executable).parent / command[0]), *command[1:]], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "VSSL_BENCH_CACHE": str(synthetic_cache)})
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "sweep: 2/2 cells done, 0 failed" in output
    for noise in ("Tip:", "litlogger", "litmodels", "but have no `validation_step`", "`on_after_batch_transfer`",
                  "LeafSpec", "smaller than the logging interval"):
        assert noise not in output, noise
    # Lightning's information lines say what we chose on purpose: none of them reaches the screen
    for notice in ("GPU available:", "TPU available:", "Seed set to", "`Trainer.fit` stopped"):
        assert notice not in output, notice
    # nor our own information lines: a sweep of one job at a time runs its cells in this process
    assert not [line for line in output.splitlines() if line.startswith("INFO ")]
