"""No command runs code from a checkpoint: every file is read with the weights-only unpickler.

The attack: a ``.pth`` whose pickle calls ``os.system`` while it loads (what a tampered release asset
would hold). Every command that reads a checkpoint must refuse it with an error naming the file and
the type it asked for, and the command it carried must never run (the marker file stays absent).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from vssl_bench.backbones import build_backbone
from vssl_bench.cli import main
from vssl_bench.errors import UnsafeCheckpointError
from vssl_bench.evaluation.checkpoints import backbone_state, read_checkpoint


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def malicious_checkpoint(path: Path, marker: Path) -> Path:
    """A plausible checkpoint (real backbone weights) with the payload hidden beside them."""
    state = build_backbone("r3d10", width=0.125).state_dict()
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in state.items()}, "epoch": 3,
                "hyper_parameters": {"backbone": "r3d10"}, "extra": _RunsCode(marker)}, path)
    return path


@pytest.fixture
def bad(tmp_path) -> tuple[Path, Path]:
    marker = tmp_path / "marker"
    return malicious_checkpoint(tmp_path / "release.pth", marker), marker


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_reading_refuses_the_payload_and_names_it(bad):
    path, marker = bad
    with pytest.raises(UnsafeCheckpointError, match=r"release\.pth asks to load .*system"):
        read_checkpoint(path)
    with pytest.raises(UnsafeCheckpointError):
        backbone_state(path)
    assert not marker.exists()


@pytest.mark.parametrize("command", ["evaluate", "finetune", "retrieve"])
def test_evaluation_commands_refuse_it_before_any_stage(bad, tmp_path, capsys, command):
    path, marker = bad
    code, out = run_cli([command, "--method", "pace", "--backbone", "r3d10", "--checkpoint", str(path),
                         "--checkpoint-format", "ours", "--scale", "quick", "--results", str(tmp_path / "results")],
                        capsys)
    assert code == 2 and "asks to load" in out and "release.pth" in out
    assert not marker.exists()
    assert not (tmp_path / "results" / "runs").exists()  # nothing ran, nothing recorded


def test_export_refuses_it(bad, tmp_path, capsys):
    path, marker = bad
    code, out = run_cli(["export", "--checkpoint", str(path), "--format", "rspnet", "--out", str(tmp_path / "x.pth")],
                        capsys)
    assert code == 2 and "asks to load" in out and not marker.exists() and not (tmp_path / "x.pth").exists()


def test_resuming_from_a_tampered_last_checkpoint_refuses_it(bad, tmp_path, capsys, synthetic_root):
    """An interrupted pretraining resumes from work/<cell>/pretrain/checkpoints/last.ckpt: a file there
    that would run code fails the stage with the reason, and runs nothing."""
    path, marker = bad
    results = tmp_path / "results"
    last = results / "work" / "pace-r3d10-ucf101-quick" / "pretrain" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    last.write_bytes(path.read_bytes())
    code, out = run_cli(["evaluate", "--method", "pace", "--backbone", "r3d10", "--scale", "quick",
                         "--results", str(results), "--trainer.max_epochs", "1"], capsys)
    assert code == 1 and not marker.exists()
    record = json.loads((results / "runs" / "pace-r3d10-ucf101-quick" / "pretrain.json").read_text())
    assert record["status"] == "failed" and "UnsafeCheckpointError" in record["error"]
    assert "last.ckpt asks to load" in record["error"]


def test_our_own_and_the_papers_checkpoints_still_load(tmp_path):
    """The allow-list keeps what real files hold: a Lightning-style dict, and an RSPNet release dict
    with its optimizer and MultiStepLR scheduler state (milestones are a Counter)."""
    net = build_backbone("r3d10", width=0.125)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[10, 20])
    blob = {"epoch": 200, "arch": "r3d", "best_loss": 1.5, "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "state_dict": {f"backbone.{k}": v for k, v in net.state_dict().items()}}
    torch.save(blob, tmp_path / "ok.pth")
    state, layout = backbone_state(tmp_path / "ok.pth")
    assert layout == "ours" and set(state) == set(net.state_dict())
