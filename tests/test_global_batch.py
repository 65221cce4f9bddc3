"""The paper's global batch at any device count: the same model on 8 GPUs as on one.

Recipes state global batches; the per-device batch comes from the world size; the learning rate
follows the paper's own rule (RSPNet: scaled by global batch / 64; the others fixed); BatchNorm is
synchronised where a device would see fewer videos than one of the authors' GPUs did.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vssl_bench.bench.batching import plan_batch
from vssl_bench.bench.recipes import experiments_dir, load_recipe
from vssl_bench.cli import main
from vssl_bench.errors import ConfigError


def dry_run(capsys, grid: str, devices: int) -> str:
    main(["run", "--grid", grid, "--scale", "paper", "--data-root", "/datasets", "--dry-run",
          "--trainer.devices", str(devices), "--trainer.precision", "bf16-mixed"])
    return capsys.readouterr().out


@pytest.mark.parametrize("devices", [1, 8])
def test_dry_run_states_the_papers_global_batch_for_every_stage(capsys, devices):
    out = dry_run(capsys, "prp", devices)
    block = out.split("prp-c3d-ucf101-paper:")[1].split("prp-r3d10")[0]
    stages = [line for line in block.splitlines() if line.strip().startswith(("pretrain:", "fine-tune"))]
    assert len(stages) == 3  # pretraining, UCF101 and HMDB51 fine-tuning
    assert all("global batch 8 = " in line for line in stages)
    assert all(f"x {devices} device" in line for line in stages)
    # the user's own options stay in the command it prints
    assert f"--trainer.devices {devices} --trainer.precision bf16-mixed" in block
    if devices == 8:  # one video per device: BatchNorm normalises over the official 8 again
        assert all("BatchNorm synchronised across 8 devices" in line for line in stages)


def test_rspnet_lr_follows_its_global_batch_at_any_device_count(capsys):
    one, eight = dry_run(capsys, "rspnet", 1), dry_run(capsys, "rspnet", 8)
    for out, per in ((one, 256), (eight, 32)):
        block = out.split("rspnet-r3d18-k400-paper:")[1].split("\n    ", 2)[2]
        pretrain = next(line for line in block.splitlines() if "pretrain:" in line)
        # 64 per GPU x 4 GPUs in the paper; LR 0.1 x 256 / 64 = 0.4, as its README computes
        assert f"global batch 256 = {per} x" in pretrain and "lr 0.4" in pretrain
        assert "BatchNorm over" in pretrain  # shuffling BN keeps its own grouping
        finetune = next(line for line in block.splitlines() if "fine-tune ucf101" in line)
        assert "global batch 64 = " in finetune and "lr 0.1" in finetune  # 32 per GPU x 2 GPUs, not scaled


def test_a_world_size_that_cannot_split_the_batch_is_refused_with_the_counts_that_can():
    with pytest.raises(ConfigError, match=r"global batch 30 cannot be split evenly over 8 devices; run on 1, 2, 3, 5, 6"):
        plan_batch(30, 8)
    capped = plan_batch(256, 4, 4, max_per_device=16)
    assert (capped.per_device, capped.accumulation) == (16, 4)
    assert plan_batch(8, 1).sync_batchnorm is False and plan_batch(32, 4, 4).sync_batchnorm is False


def _recipe_with_scaled_lr(tmp_path: Path) -> Path:
    """Pace's quick recipe written out as a recipe of its own, with an LR scaled by global batch / 8, so
    a per-device reading of the batch would change the LR with the device count."""
    spec = load_recipe(experiments_dir() / "pace" / "r3d10_ucf101.yaml", "quick").to_dict()
    del spec["source"], spec["scale"]
    for entry in spec["finetune"]["datasets"].values():
        entry.update(entry.pop("classifier"))
    spec["model"]["lr_batch_reference"] = 8
    path = tmp_path / "pace_scaled.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _run(recipe: Path, results: Path, devices: int) -> dict[str, dict]:
    script = Path(sys.executable).with_name("vssl-bench")
    if not script.exists():
        pytest.skip("needs the vssl-bench script of the virtual environment: run with `make test`")
    scale_overrides = ["--scale", "paper", "--results", str(results), "--trainer.accelerator", "cpu",
                       "--trainer.devices", str(devices), "--trainer.strategy", "ddp" if devices > 1 else "auto",
                       "--trainer.max-epochs", "1", "--trainer.limit-train-batches", "1",
                       "--trainer.limit-test-batches", "1", "--trainer.num-workers", "0"]
    env = {k: v for k, v in os.environ.items() if k not in ("LOCAL_RANK", "WORLD_SIZE", "RANK")}
    done = subprocess.run([sys.executable, str(script), "evaluate", "--config", str(recipe), *scale_overrides],
                          env=env, capture_output=True, text=True, timeout=600, cwd=results.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    return {p.stem: json.loads(p.read_text()) for p in (results / "runs").rglob("*.json")}


@pytest.mark.skipif(sys.platform != "linux", reason="gloo DDP on CPU is exercised on Linux")
def test_two_processes_train_with_the_global_batch_and_lr_of_one(tmp_path, synthetic_root):
    recipe = _recipe_with_scaled_lr(tmp_path)
    one = _run(recipe, tmp_path / "one", 1)
    two = _run(recipe, tmp_path / "two", 2)
    for stage in ("pretrain", "finetune-synthetic"):
        a, b = one[stage], two[stage]
        assert a["status"] == b["status"] == "ok", (a.get("error"), b.get("error"))
        assert a["batch"]["global_batch"] == b["batch"]["global_batch"] == 16
        assert (a["batch"]["per_device"], b["batch"]["per_device"]) == (16, 8)
        assert a["lr"] == pytest.approx(b["lr"])
        assert b["batch"]["sync_batchnorm"] is False  # gloo on CPU cannot synchronise BatchNorm; the record says so
    assert one["pretrain"]["lr"] == pytest.approx(3e-4 * 16 / 8)  # the quick Adam LR, scaled by 16 / 8
    assert one["pretrain"]["kind"] == "pretrain" and one["finetune-synthetic"]["protocol"] == "full-finetune"
