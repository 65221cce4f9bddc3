from __future__ import annotations

import json
import time

import pandas as pd
import pytest
import yaml

from vssl_bench.bench.grids import Cell, grid, grids
from vssl_bench.bench.recipes import experiments_dir, load_recipe
from vssl_bench.bench.runner import run_cell
from vssl_bench.bench.stages import finetune, pretrain, retrieve
from vssl_bench.bench.sweep import SweepProgress, sweep
from vssl_bench.bench.trainer import RunContext, TrainerOptions, finish_logger
from vssl_bench.errors import ConfigError
from vssl_bench.records import load_records
from vssl_bench.report.leaderboard import write_leaderboard
from vssl_bench.report.rows import model_name


def test_every_grid_cell_has_a_recipe_that_loads_at_both_scales():
    for cells in grids().values():
        for cell in cells:
            for scale in ("paper", "quick"):
                recipe = load_recipe(experiments_dir().parent / cell.recipe, scale)
                assert recipe.method == cell.method and recipe.backbone == cell.backbone
    assert len(grid("all")) == 20
    with pytest.raises(ConfigError, match="grid 'everything'"):
        grid("everything")


def test_paper_recipes_hold_the_papers_numbers():
    rsp = load_recipe(experiments_dir() / "rspnet" / "r3d18_k400.yaml")
    assert (rsp.model["queue_size"], rsp.model["margin"], rsp.model["temperature"]) == (16384, 2.0, 0.07)
    assert rsp.finetune.datasets["hmdb51"].eval_clips == 3
    prp = load_recipe(experiments_dir() / "prp" / "c3d_ucf101.yaml")
    assert prp.model["rates"] == [1, 2, 4, 8] and prp.model["cls_weight"] == 0.1


def test_cell_writes_records_resumes_and_builds_the_leaderboard(tmp_path, synthetic_root):
    ctx = RunContext(scale="quick", results=tmp_path, trainer=TrainerOptions(max_epochs=1))
    cell = Cell("pace", "r3d10", "ucf101")
    (tmp_path / "reported.yaml").write_text((experiments_dir().parent / "results" / "reported.yaml").read_text())
    assert run_cell(cell, ctx) == []
    records = {r["stage"]: r for r in load_records(tmp_path / "runs")}
    assert set(records) == {"pretrain", "finetune-synthetic", "retrieval-synthetic"}
    for r in records.values():
        assert r["status"] == "ok" and r["seed"] == 0 and r["versions"]["torch"] and r["wall_s"] >= 0
    assert 0 <= records["finetune-synthetic"]["metrics"]["top1"] <= 100
    assert set(records["retrieval-synthetic"]["metrics"]) >= {"R@1", "R@5", "R@10", "R@20", "R@50"}
    # the pretext accuracy at the end of pretraining, beside its chance level (one of four paces)
    pretext = records["pretrain"]["metrics"]["pretext"]
    assert set(pretext) == {"acc/pace"} and pretext["acc/pace"]["chance"] == 25.0
    assert 0 <= pretext["acc/pace"]["accuracy"] <= 100 and records["pretrain"]["steps"] == 18  # 288 videos / 16
    stamps = {s: r["started"] for s, r in records.items()}
    assert run_cell(cell, ctx) == []  # resumed: nothing re-run
    assert {r["stage"]: r["started"] for r in load_records(tmp_path / "runs")} == stamps

    out = write_leaderboard(tmp_path)
    tables = json.loads(out["json"].read_text())  # the Papers-With-Code export: the papers' rows, no synthetic ones
    assert {t["task"] for t in tables} == {"Self-Supervised Action Recognition", "Self-Supervised Video Retrieval"}
    rows = [row for t in tables for d in t["datasets"] for row in d["sota"]["rows"]]
    assert any(r["model_name"] == "RSPNet (S3D-G, K400)" and r["metrics"]["Top-1 Accuracy"] == "89.9" for r in rows)
    assert not any("quick scale" in r["model_name"] for r in rows)
    quick = json.loads(out["json_quick"].read_text())  # the quick rows, in a file of their own
    assert "Self-Supervised Action Recognition Linear" in {t["task"] for t in quick}  # the probe on the same features
    quick_rows = [row for t in quick for d in t["datasets"] for row in d["sota"]["rows"]]
    assert quick_rows and all("[reproduced, quick scale" in r["model_name"] for r in quick_rows)
    md = out["md"].read_text()
    assert "Pace (R3D-10, Synthetic)" in md
    pretext_table = md.split("### Pretext accuracy", 1)[1]
    assert f"| Pace | R3D-10 | pace (1 of 4) | {pretext['acc/pace']['accuracy']:.1f} | 1 |" in pretext_table
    assert "| 25.0 (" in pretext_table
    assert "const DATA" in out["html"].read_text() and 'id="quick-pretext"' in out["html"].read_text()


def test_a_failing_stage_is_recorded_and_the_rest_continues(tmp_path, monkeypatch):
    ctx = RunContext(scale="paper", data_root=str(tmp_path / "no-data"), results=tmp_path)
    failed = run_cell(Cell("prp", "c3d", "ucf101"), ctx)
    assert failed == ["prp-c3d-ucf101-paper/pretrain"]
    (record,) = load_records(tmp_path / "runs")
    assert record["status"] == "failed" and "no-data" in record["error"]


def test_the_showcase_grid_is_every_method_on_one_backbone_with_frozen_feature_protocols(capsys):
    from vssl_bench import catalog
    from vssl_bench.bench.grids import SHOWCASE_BACKBONE, grid_sections

    cells = grid("showcase")
    assert [c.method for c in cells] == list(catalog.METHODS) and {c.backbone for c in cells} == {SHOWCASE_BACKBONE}
    assert grid_sections("showcase") == ("retrieval",) and grid_sections("all") == ("finetune", "retrieval")
    ctx = RunContext(scale="quick", trainer=TrainerOptions(accelerator="cpu"))
    assert sweep("showcase", ctx, dry_run=True, seeds=[0]) == 0
    out = capsys.readouterr().out
    assert out.count("pretrain -> retrieval") == 4 and "scratch-r3d10-quick: retrieval from random init" in out
    assert "fine-tune" not in out


def test_jobs_run_cells_at_once_on_cpu_and_are_refused_elsewhere(tmp_path, synthetic_root):
    from vssl_bench.bench.sweep import resolve_jobs

    cpu = RunContext(scale="quick", results=tmp_path, trainer=TrainerOptions(
        accelerator="cpu", max_epochs=1, limit_train_batches=2, limit_test_batches=2, num_workers=0))
    assert resolve_jobs("auto", cpu) >= 1 and resolve_jobs("3", cpu) == 3
    with pytest.raises(ConfigError, match="jobs=0"):
        resolve_jobs(0, cpu)
    assert resolve_jobs("auto", RunContext(trainer=TrainerOptions(accelerator="gpu"))) == 1
    with pytest.raises(ConfigError, match="only on CPU"):
        sweep("smoke", RunContext(trainer=TrainerOptions(accelerator="gpu")), jobs=2)
    with pytest.raises(ConfigError, match="one job per cell already"):
        sweep("smoke", cpu, launcher="slurm", jobs=2)
    # two processes, one core each: the cell and its random-init baseline both write their records
    assert sweep("smoke", cpu, seeds=[0], jobs=2) == 0
    ok = {(r["cell"], r["stage"]) for r in load_records(tmp_path / "runs") if r["status"] == "ok"}
    assert ok == {(cell, stage) for cell in ("pace-r3d10-ucf101-quick", "scratch-r3d10-quick")
                  for stage in ("pretrain", "finetune-synthetic", "retrieval-synthetic")} - {("scratch-r3d10-quick", "pretrain")}


def test_model_names_follow_papers_with_code_style():
    assert model_name("rspnet", "s3dg", "kinetics400") == "RSPNet (S3D-G, K400)"


def _finetune_record(split: int, top1: float) -> dict:
    return {"status": "ok", "stage": "finetune-ucf101" + ("" if split == 1 else f"-split{split}"), "split": split,
            "cell": "pace-r3d10-ucf101-paper", "dataset": "ucf101", "method": "pace", "backbone": "r3d10",
            "pretrain_data": "ucf101", "scale": "paper", "metrics": {"top1": top1}}


def test_three_fold_accuracy_is_the_mean_of_the_three_splits(tmp_path):
    from vssl_bench.records import write_record

    for split, top1 in ((1, 60.0), (2, 62.0), (3, 67.0)):
        write_record(tmp_path / "runs" / "cell" / f"finetune-ucf101-split{split}.json", _finetune_record(split, top1))
    table = pd.read_csv(write_leaderboard(tmp_path)["csv"])
    mine = table[table["source"] == "reproduced"].set_index("Metric")["Value"]
    assert mine["Top-1 Accuracy"] == 60.0  # split 1, as the papers report
    assert mine["3-fold Accuracy"] == pytest.approx(63.0)
    assert len(mine) == 2  # splits 2 and 3 are not rows of their own


def test_skipped_videos_reach_the_leaderboard_note(tmp_path):
    from vssl_bench.records import write_record

    write_record(tmp_path / "runs" / "cell" / "pretrain.json",
                 {**_finetune_record(1, 0.0), "stage": "pretrain", "metrics": {},
                  "skipped_videos": {"replaced": 3, "dropped": 0, "reasons": ["x.avi is truncated"]}})
    write_record(tmp_path / "runs" / "cell" / "finetune-ucf101.json",
                 {**_finetune_record(1, 50.0), "skipped_videos": {"replaced": 0, "dropped": 2, "reasons": []}})
    table = pd.read_csv(write_leaderboard(tmp_path)["csv"])
    note = table[table["source"] == "reproduced"]["note"].iloc[0]
    assert "3 videos replaced in pretraining" in note and "2 videos dropped in this stage" in note


def test_no_three_fold_row_without_all_three_splits(tmp_path):
    from vssl_bench.records import write_record

    for split in (1, 2):
        write_record(tmp_path / "runs" / "cell" / f"finetune-ucf101-split{split}.json", _finetune_record(split, 50.0))
    table = pd.read_csv(write_leaderboard(tmp_path)["csv"])
    assert "3-fold Accuracy" not in set(table[table["source"] == "reproduced"]["Metric"])


def test_finetune_splits_are_validated(tmp_path):
    recipe = load_recipe(experiments_dir() / "rspnet" / "s3dg_k400_1000ep.yaml")
    assert recipe.splits("ucf101") == [1, 2, 3] and recipe.splits("hmdb51") == [1]
    spec = yaml.safe_load((experiments_dir() / "rspnet" / "s3dg_k400_1000ep.yaml").read_text())
    spec["finetune"]["datasets"]["ucf101"]["splits"] = [4]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match=r"finetune\.datasets\.ucf101\.splits\[0\]: 4 is not allowed; use one of 1, 2, 3"):
        load_recipe(tmp_path / "bad.yaml")


def test_dry_run_prints_every_cell_with_its_command(capsys):
    ctx = RunContext(scale="paper", data_root="/datasets")
    assert sweep("rspnet", ctx, dry_run=True) == 0
    out = capsys.readouterr().out
    assert "vssl-bench evaluate --config experiments/rspnet/s3dg_k400.yaml --scale paper --data-root /datasets" in out
    assert out.count("--scratch true") == 4  # one baseline per backbone of the grid


def test_sweep_progress_line():
    progress = SweepProgress(total=4)
    assert progress.line(running="a").startswith("sweep: 0/4 cells done, running a, 0 failed")
    progress.finish([])
    progress.finish(["b/pretrain"])
    line = progress.line()
    assert "2/4 cells done, 1 failed" in line and "left" in line


def test_sweep_estimate_counts_cells_running_alongside():
    """Two cells at a time, 15 in all, the first done after 63 s: the other started with it is nearly
    done, so the rest is about 13 / 2 x 63 s (the showcase took 4m24s more), not 14 x 63 s."""
    progress = SweepProgress(total=15, parallel=2, started=time.perf_counter() - 63)
    progress.finish([])
    assert "about 6m4" in progress.line()  # 6m49s
    one_at_a_time = SweepProgress(total=15, started=time.perf_counter() - 63)
    one_at_a_time.finish([])
    assert "about 14m4" in one_at_a_time.line()  # 14m42s


def test_wandb_logger_records_config_and_metrics_offline(tmp_path, synthetic_root, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_MODE", raising=False)  # the runner must choose offline by itself
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    recipe = load_recipe(experiments_dir() / "pace" / "r3d10_ucf101.yaml", "quick")
    recipe.retrieval.clips = 1
    ctx = RunContext(scale="quick", results=tmp_path, trainer=TrainerOptions(logger="wandb"))
    metrics, _ = retrieve(recipe, ctx, "synthetic", None, tmp_path / "work")
    finish_logger(ctx)
    # wandb.finish() can return before wandb's service process has written the offline log (seen on a
    # loaded machine: a 7-byte file, complete 2 s later); it is complete once the service has shut
    # down, which happens at process exit, or here:
    import wandb

    wandb.teardown()
    (run,) = (tmp_path / "work").rglob("offline-run-*")
    stream = next(run.glob("*.wandb")).read_bytes()
    assert b"retrieval/R@1" in stream and b"backbone" in stream  # metrics and the hyper-parameters
    assert 0 <= metrics["R@1"] <= 100


def test_an_unknown_recipe_key_is_named(tmp_path):
    spec = yaml.safe_load((experiments_dir() / "rspnet" / "r3d18_k400.yaml").read_text())
    spec["model"]["key_momentun"] = 0.99
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match=r"mine\.yaml: model\.key_momentun: unknown key.*did you mean 'key_momentum'"):
        load_recipe(tmp_path / "mine.yaml", "quick")


def test_a_killed_pretraining_resumes_from_its_last_checkpoint(tmp_path, synthetic_root):
    recipe = load_recipe(experiments_dir() / "pace" / "r3d10_ucf101.yaml", "quick")
    recipe.trainer.log_every_n_steps = 1
    first = RunContext(scale="quick", results=tmp_path, trainer=TrainerOptions(max_epochs=1))
    pretrain(recipe, first, "cell")  # as if the run was killed after its first epoch
    assert (tmp_path / "work" / "cell" / "pretrain" / "checkpoints" / "last.ckpt").is_file()
    again = RunContext(scale="quick", results=tmp_path, trainer=TrainerOptions(max_epochs=2))
    pretrain(recipe, again, "cell")
    logs = sorted((tmp_path / "work" / "cell" / "pretrain" / "logs").glob("version_*/metrics.csv"))
    assert len(logs) == 2
    resumed = pd.read_csv(logs[1])
    assert set(resumed["epoch"].dropna().astype(int)) == {1}  # epoch 0 was not trained again


def test_a_cpu_bf16_sweep_is_refused_before_any_cell_runs(tmp_path):
    ctx = RunContext(scale="quick", results=tmp_path, trainer=TrainerOptions(accelerator="cpu", precision="bf16-mixed"))
    with pytest.raises(ConfigError, match="32-true"):
        sweep("smoke", ctx)
    assert not list(tmp_path.rglob("*.json"))  # no cell started, no failed records to clean up


def test_rspnet_headline_rows_meet_the_1000_epoch_cell(tmp_path):
    """RSPNet's Papers-With-Code rows (UCF101 3-fold Accuracy 93.7, HMDB51 Top-1 Accuracy 64.7) are in
    the leaderboard under their own model name, and a run of the 1000-epoch cell is compared with them,
    not with the 200-epoch rows."""
    from vssl_bench.records import write_record

    cell = Cell("rspnet", "s3dg", "kinetics400", "1000ep")
    assert cell in grid("rspnet") and cell.recipe == "experiments/rspnet/s3dg_k400_1000ep.yaml"
    recipe = load_recipe(experiments_dir().parent / cell.recipe)
    assert recipe.trainer.max_epochs == 1000 and recipe.splits("ucf101") == [1, 2, 3]
    base = {"status": "ok", "cell": cell.id("paper"), "method": "rspnet", "backbone": "s3dg", "variant": "1000ep",
            "pretrain_data": "kinetics400", "scale": "paper"}
    for split, top1 in ((1, 90.0), (2, 91.0), (3, 92.0)):
        write_record(tmp_path / "runs" / "c" / f"ft-ucf-{split}.json",
                     {**base, "stage": f"finetune-ucf101-split{split}", "split": split, "dataset": "ucf101",
                      "metrics": {"top1": top1}})
    write_record(tmp_path / "runs" / "c" / "ft-hmdb.json",
                 {**base, "stage": "finetune-hmdb51", "split": 1, "dataset": "hmdb51", "metrics": {"top1": 60.0}})
    table = pd.read_csv(write_leaderboard(tmp_path)["csv"])
    name = "RSPNet (S3D-G, K400, 1000 epochs)"
    reported = table[(table["source"] == "reported") & (table["Model"] == name)].set_index(["Dataset", "Metric"])
    assert reported.loc[("UCF101", "3-fold Accuracy"), "Value"] == 93.7
    assert reported.loc[("HMDB51", "Top-1 Accuracy"), "Value"] == 64.7
    mine = table[(table["source"] == "reproduced") & (table["Model"] == name)].set_index(["Dataset", "Metric"])
    assert mine.loc[("UCF101", "3-fold Accuracy"), "delta"] == pytest.approx(91.0 - 93.7)
    assert mine.loc[("HMDB51", "Top-1 Accuracy"), "delta"] == pytest.approx(60.0 - 64.7)
    # the 200-epoch rows keep their own numbers
    old = table[(table["source"] == "reported") & (table["Model"] == "RSPNet (S3D-G, K400)")]
    assert set(old["Value"]) == {89.9, 59.6}


def test_cells_outside_the_papers_say_so_in_the_recipe_and_the_leaderboard(tmp_path):
    from vssl_bench.records import write_record

    paper_cells = {c for name in ("rspnet", "pace", "prp", "ascnet") for c in grid(name)}
    for cell in grid("all"):
        recipe = load_recipe(experiments_dir().parent / cell.recipe)
        # Pace's K400 row has no official schedule; Pace's S3D-G is a network of its own, not the one we build
        substitutes = cell.method == "pace" and (cell.pretrain_data == "kinetics400" or cell.backbone == "s3dg")
        in_paper = cell in paper_cells and not substitutes
        assert bool(recipe.extrapolated) == (not in_paper), cell
    write_record(tmp_path / "runs" / "c" / "ft.json",
                 {**_finetune_record(1, 50.0), "extrapolated": "RSPNet reports R3D-18, not R3D-10"})
    table = pd.read_csv(write_leaderboard(tmp_path)["csv"])
    assert "extrapolated" in table[table["source"] == "reproduced"]["note"].iloc[0]


def test_pace_s3dg_is_evaluated_on_64x224_clips_as_pretrained():
    recipe = load_recipe(experiments_dir() / "pace" / "s3dg_ucf101.yaml")
    assert (recipe.model["clip_len"], recipe.model["crop_size"]) == (64, 224)
    for dataset in ("ucf101", "hmdb51"):
        spec = recipe.finetune.datasets[dataset]
        assert (spec.clip_len, spec.crop_size) == (64, 224)
    assert (recipe.retrieval.clip_len, recipe.retrieval.crop_size) == (64, 224)


@pytest.mark.parametrize("select", ["last", "best_val", "best_test"])
def test_finetune_tests_the_epoch_its_protocol_selects(select, tmp_path, synthetic_root):
    """``last`` tests the final epoch; ``best_val`` the lowest loss on videos held out of the train
    split (PRP); ``best_test`` the best top-1 on the test split (RSPNet). The last epoch's number is
    recorded whatever the selection."""
    recipe = load_recipe(experiments_dir() / "prp" / "r3d10_ucf101.yaml", "quick")
    recipe.finetune.select = select
    recipe.finetune.datasets["synthetic"].epochs = 4
    recipe.finetune.datasets["synthetic"].heldout = 20
    ctx = RunContext(scale="quick", results=tmp_path, trainer=TrainerOptions(
        limit_train_batches=2, limit_val_batches=3, limit_test_batches=2, num_workers=0))
    metrics, _ = finetune(recipe, ctx, "synthetic", None, tmp_path / "ft")
    log = pd.read_csv(next((tmp_path / "ft").rglob("metrics.csv")))
    val = log.dropna(subset=["val/top1"]) if "val/top1" in log else log.iloc[0:0]
    assert metrics["select"] == select and "top1_last" in metrics
    if select == "last":
        assert val.empty and metrics["selected_epoch"] == 3 and metrics["top1"] == metrics["top1_last"]
    elif select == "best_val":
        assert set(val["val/videos"]) == {20.0}  # the held-out videos, not the test split
        assert metrics["selected_epoch"] == int(val.loc[val["val/loss"].idxmin(), "epoch"])
    else:
        assert set(val["val/videos"]) == {48.0}  # 3 batches of the test split
        assert metrics["selected_epoch"] == int(val.loc[val["val/top1"].idxmax(), "epoch"])
    assert len(val) == (0 if select == "last" else 4)


def test_held_out_videos_leave_the_training_set():
    from vssl_bench.data.datamodule import VideoDataModule

    data = VideoDataModule("synthetic", mode="finetune", heldout=30, seed=3)
    train, held = data.index("train").samples, data.index("heldout").samples
    assert len(held) == 30 and not set(train) & set(held)
    assert held == VideoDataModule("synthetic", mode="finetune", heldout=30, seed=3).index("heldout").samples
    with pytest.raises(ConfigError, match="heldout=5000"):
        VideoDataModule("synthetic", mode="finetune", heldout=5000).index("train")



def test_pretraining_keeps_the_checkpoint_its_paper_kept(tmp_path, synthetic_root):
    """PRP: the epoch with the lowest pretext loss on held-out training videos, with the LR on a plateau
    schedule of that loss; Pace: the last epoch."""
    import torch

    ctx = RunContext(scale="quick", results=tmp_path, trainer=TrainerOptions(
        max_epochs=3, limit_train_batches=2, limit_val_batches=1, num_workers=0))
    prp = load_recipe(experiments_dir() / "prp" / "r3d10_ucf101.yaml", "quick")
    assert prp.checkpoint == "best_val_loss" and prp.model["schedule"] == "plateau"
    chosen, extra = pretrain(prp, ctx, "prp-cell")
    assert extra["pretrain_checkpoint"] == "best_val_loss"
    log = pd.read_csv(next((tmp_path / "work" / "prp-cell").rglob("metrics.csv")))
    val = log.dropna(subset=["val/loss"])
    assert len(val) == 3
    assert torch.load(chosen, weights_only=True)["epoch"] == int(val.loc[val["val/loss"].idxmin(), "epoch"])
    pace = load_recipe(experiments_dir() / "pace" / "r3d10_ucf101.yaml", "quick")
    chosen, extra = pretrain(pace, ctx, "pace-cell")
    assert extra["pretrain_checkpoint"] == "last" and chosen.name == "last.ckpt"
    assert torch.load(chosen, weights_only=True)["global_step"] == 6  # 3 epochs x 2 batches: the end


def test_a_plateau_schedule_without_held_out_videos_is_refused(tmp_path):
    recipe = load_recipe(experiments_dir() / "prp" / "r3d10_ucf101.yaml", "quick")
    recipe.data["heldout"] = 0
    with pytest.raises(ConfigError, match="heldout"):
        pretrain(recipe, RunContext(scale="quick", results=tmp_path), "cell")


def test_a_smaller_test_set_is_said_on_the_row_the_page_and_the_markdown(tmp_path):
    """A number over fewer test videos than the split lists is never shown as if it were the paper's set."""
    from vssl_bench.records import write_record

    record = _finetune_record(1, 50.0)
    record["metrics"] |= {"videos": 3780.0, "undecodable_videos": 3.0}
    write_record(tmp_path / "runs" / "c" / "ft.json", record)
    write_record(tmp_path / "runs" / "c" / "rt.json",
                 {**record, "stage": "retrieval-ucf101", "metrics": {"R@1": 20.0, "queries": 3783.0, "gallery": 9535.0,
                                                                     "undecodable_queries": 0.0, "undecodable_gallery": 2.0}})
    out = write_leaderboard(tmp_path)
    mine = pd.read_csv(out["csv"])
    mine = mine[mine["source"] == "reproduced"].set_index("Metric")
    assert "3780 of 3783 test videos" in mine.loc["Top-1 Accuracy", "remark"]
    assert "3783 of 3783 query and 9535 of 9537 gallery videos" in mine.loc["R@1", "remark"]
    assert "3780 of 3783 test videos" in out["md"].read_text() and "3780 of 3783 test videos" in out["html"].read_text()
