"""Every stage command ends with its result (issue 26, point 10): a short table of what it measured
(top-1/top-5 with the selected and last epoch, R@k and the logistic probe, the pretext loss and
accuracy beside chance) and where the records are; the synthetic preview names its rows."""

from __future__ import annotations

import numpy as np
from PIL import Image

from vssl_bench.bench import commands
from vssl_bench.data.preview import contact_sheet
from vssl_bench.records import read_record, write_record
from vssl_bench.report.summary import format_records, summarize

BASE = {"status": "ok", "method": "pace", "backbone": "r3d10", "scale": "quick", "seed": 0,
        "cell": "pace-r3d10-ucf101-quick", "pretrain_data": "synthetic"}


def _pretrain_log(root, cell="pace-r3d10-ucf101-quick"):
    log = root / "work" / cell / "pretrain" / "logs" / "version_0" / "metrics.csv"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("epoch,step,train/epoch_loss,train/acc/pace\n0,0,1.46,0.25\n1,1,1.43,0.26\n2,2,1.40,0.27\n")


def _records(root):
    runs = root / "runs" / BASE["cell"]
    write_record(runs / "pretrain.json", {**BASE, "stage": "pretrain", "kind": "pretrain", "protocol": "pretext",
                                          "dataset": "synthetic", "metrics": {}, "config": {"model": {"max_pace": 4}}})
    write_record(runs / "finetune-synthetic.json", {
        **BASE, "stage": "finetune-synthetic", "kind": "finetune", "protocol": "full-finetune", "dataset": "synthetic",
        "metrics": {"top1": 30.21, "top5": 80.0, "select": "best_val", "selected_epoch": 5, "top1_last": 28.13,
                    "top5_last": 79.2}})
    write_record(runs / "retrieval-synthetic.json", {
        **BASE, "stage": "retrieval-synthetic", "kind": "retrieval", "protocol": "nn-retrieval", "dataset": "synthetic",
        "metrics": {"R@1": 15.6, "R@10": 65.6, "R@5": 45.6, "R@20": 95.8, "R@50": 100.0, "probe_top1": 31.25}})
    write_record(runs / "finetune-ucf101.json", {**BASE, "stage": "finetune-ucf101", "status": "failed",
                                                 "kind": "finetune", "protocol": "full-finetune", "dataset": "ucf101",
                                                 "error": "ConfigError: pass --data_root", "metrics": {}})
    return runs


def test_the_table_says_what_each_stage_measured_beside_chance_and_where_the_records_are(tmp_path):
    runs = _records(tmp_path)
    _pretrain_log(tmp_path)
    text = summarize(tmp_path, [BASE["cell"]])
    lines = text.splitlines()
    assert lines[0] == "pace-r3d10-ucf101-quick (seed 0)"
    assert lines[1].split() == ["stage", "protocol", "dataset", "result"]
    by_stage = {line.split()[0]: line for line in lines[2:-1]}
    assert list(by_stage) == ["pretrain", "finetune-synthetic", "finetune-ucf101", "retrieval-synthetic"]
    assert "pretext loss 1.46 -> 1.4 (chance 1.39)" in by_stage["pretrain"]
    assert "accuracy 27.0% (chance 25.0%)" in by_stage["pretrain"] and "3 epochs" in by_stage["pretrain"]
    assert ("top-1 30.2, top-5 80.0 (best_val epoch 5; last epoch: top-1 28.1, top-5 79.2); chance 25.0"
            in by_stage["finetune-synthetic"])
    assert "R@1 15.6  R@5 45.6  R@10 65.6  R@20 95.8  R@50 100.0; logistic probe top-1 31.2" in by_stage[
        "retrieval-synthetic"]
    assert "FAILED: ConfigError: pass --data_root" in by_stage["finetune-ucf101"]
    assert lines[-1] == f"records: {runs}/"


def test_records_from_before_the_command_are_marked(tmp_path):
    runs = _records(tmp_path)
    path = runs / "retrieval-synthetic.json"
    text = format_records([(path, read_record(path))], tmp_path / "work", since=path.stat().st_mtime + 10)
    assert "(earlier run)" in text


def test_finetune_retrieve_evaluate_and_pretrain_end_with_their_table(tmp_path, monkeypatch, capsys):
    def fake_run_cell(cell, ctx, *args, sections=("finetune", "retrieval"), **kwargs):
        _records(ctx.results)
        return []

    monkeypatch.setattr(commands, "run_cell", fake_run_cell)
    commands.finetune(method="pace", backbone="r3d10", scale="quick", results=str(tmp_path),
                      checkpoint=None)
    out = capsys.readouterr().out
    # the scratch cell ran (no checkpoint): its label has no records here, so the table says so
    assert out.strip().endswith("no records written.")
    commands.finetune(method="pace", backbone="r3d10", scale="quick", results=str(tmp_path),
                      checkpoint=str(tmp_path / "w.pt"))
    out = capsys.readouterr().out
    assert "finetune-synthetic" in out and "top-1 30.2" in out and "retrieval-synthetic" not in out
    commands.retrieve(method="pace", backbone="r3d10", scale="quick", results=str(tmp_path),
                      checkpoint=str(tmp_path / "w.pt"))
    out = capsys.readouterr().out
    assert "R@1 15.6" in out and "finetune-synthetic" not in out
    commands.evaluate(method="pace", backbone="r3d10", scale="quick", results=str(tmp_path))
    out = capsys.readouterr().out
    assert {"pretrain", "finetune-synthetic", "retrieval-synthetic"} <= {line.split()[0] for line in out.splitlines()
                                                                         if line.strip()}
    assert f"records: {tmp_path / 'runs' / BASE['cell']}/" in out

    def fake_pretrain(recipe, ctx, cell_id):
        _pretrain_log(ctx.results, cell_id)
        return ctx.work / cell_id / "pretrain" / "checkpoints" / "last.ckpt", {}

    monkeypatch.setattr(commands, "pretrain_stage", fake_pretrain)
    commands.pretrain(method="pace", backbone="r3d10", scale="quick", results=str(tmp_path))
    out = capsys.readouterr().out
    assert "pretext loss 1.46 -> 1.4 (chance 1.39)" in out and "checkpoint: " in out and "last.ckpt" in out


def test_the_synthetic_preview_names_its_rows(synthetic_root, tmp_path):
    plain = np.asarray(Image.open(contact_sheet(synthetic_root, tmp_path / "plain.png", frames_per_video=4)))
    named = np.asarray(Image.open(contact_sheet(synthetic_root, tmp_path / "named.png", frames_per_video=4,
                                                labels=True, zoom=2)))
    margin = named.shape[1] - 2 * plain.shape[1]
    assert named.shape[0] == 2 * plain.shape[0] and margin > 0
    rows = np.split(named[:, :margin], 8, axis=0)
    assert all((row < 128).any() for row in rows)  # dark text in every row's margin
