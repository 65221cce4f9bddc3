from __future__ import annotations

import json

import pytest

from vssl_bench.bench.grids import GRIDS, Cell, grid
from vssl_bench.bench.leaderboard import model_name, write_leaderboard
from vssl_bench.bench.recipes import experiments_dir, load_recipe
from vssl_bench.bench.records import load_records
from vssl_bench.bench.runner import RunContext, TrainerOptions, run_cell
from vssl_bench.errors import ConfigError


def test_every_grid_cell_has_a_recipe_that_loads_at_both_scales():
    for cells in GRIDS.values():
        for cell in cells:
            for scale in ("paper", "quick"):
                recipe = load_recipe(experiments_dir().parent / cell.recipe, scale)
                assert recipe["method"] == cell.method and recipe["model"]["backbone"] == cell.backbone
    assert len(grid("all")) == 20
    with pytest.raises(ConfigError, match="grid 'everything'"):
        grid("everything")


def test_paper_recipes_hold_the_papers_numbers():
    rsp = load_recipe(experiments_dir() / "rspnet" / "r3d18_k400.yaml")
    assert (rsp["model"]["queue_size"], rsp["model"]["margin"], rsp["model"]["temperature"]) == (16384, 2.0, 0.07)
    assert rsp["finetune"]["datasets"]["hmdb51"]["eval_clips"] == 3
    prp = load_recipe(experiments_dir() / "prp" / "c3d_ucf101.yaml")
    assert prp["model"]["rates"] == [1, 2, 4, 8] and prp["model"]["cls_weight"] == 0.1


def test_cell_writes_records_resumes_and_builds_the_leaderboard(tmp_path, synthetic_root, monkeypatch):
    monkeypatch.setenv("VSSL_BENCH_CACHE", str(tmp_path / "cache"))
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
    stamps = {s: r["started"] for s, r in records.items()}
    assert run_cell(cell, ctx) == []  # resumed: nothing re-run
    assert {r["stage"]: r["started"] for r in load_records(tmp_path / "runs")} == stamps

    out = write_leaderboard(tmp_path)
    tables = json.loads(out["json"].read_text())
    assert {t["task"] for t in tables} == {"Self-Supervised Action Recognition", "Self-supervised Video Retrieval"}
    rows = [row for t in tables for d in t["datasets"] for row in d["sota"]["rows"]]
    assert any(r["model_name"] == "RSPNet (S3D-G, K400)" and r["metrics"]["Top-1 Accuracy"] == "89.9" for r in rows)
    assert any("reproduced" in r["model_name"] for r in rows)
    assert "Pace (R3D-10, Synthetic)" in out["md"].read_text()
    assert "const DATA" in out["html"].read_text()


def test_a_failing_stage_is_recorded_and_the_rest_continues(tmp_path, monkeypatch):
    ctx = RunContext(scale="paper", data_root=str(tmp_path / "no-data"), results=tmp_path)
    failed = run_cell(Cell("prp", "c3d", "ucf101"), ctx)
    assert failed == ["prp-c3d-ucf101-paper/pretrain"]
    (record,) = load_records(tmp_path / "runs")
    assert record["status"] == "failed" and "no-data" in record["error"]


def test_model_names_follow_papers_with_code_style():
    assert model_name("rspnet", "s3dg", "kinetics400") == "RSPNet (S3D-G, K400)"
