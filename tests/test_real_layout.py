"""End to end on a tiny tree in the official dataset layouts (see real_layout.py for the quirks it imitates)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from real_layout import build_tree

from vssl_bench.bench.grids import paper_grids
from vssl_bench.bench.recipes import load_recipe
from vssl_bench.cli import main
from vssl_bench.data.datasets import build_index

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return build_tree(tmp_path_factory.mktemp("datasets"))


def test_official_layouts_index_as_published(tree):
    ucf_train = build_index("ucf101", tree / "ucf101", "train", split=2)
    ucf_test = build_index("ucf101", tree / "ucf101", "test", split=2)
    assert (len(ucf_train), len(ucf_test), len(ucf_train.classes)) == (3, 3, 3)
    assert any("v_HandStandPushups_g08_c01.avi" in p for p, _ in ucf_train.samples)
    hmdb_train = build_index("hmdb51", tree / "hmdb51", "train", split=3)
    hmdb_test = build_index("hmdb51", tree / "hmdb51", "test", split=3)
    assert (len(hmdb_train), len(hmdb_test)) == (4, 2)  # flag-0 videos are in neither
    assert any("Bodenturnen_&_Co" in p for p, _ in hmdb_train.samples)
    k400 = build_index("kinetics400", tree / "kinetics400", "train")
    by_csv = build_index("kinetics400", tree / "kinetics400", "test",
                         annotations=tree / "kinetics400" / "kinetics-400_val.csv")
    assert len(k400) == 4 and k400.classes == ["abseiling", "air drumming"] and len(by_csv) == 2


def run_check(args: list[str], capsys) -> tuple[int, str]:
    try:
        main(["data", "check", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().out


def test_data_check_passes_a_clean_tree_and_notes_packed_bframes(tree, tmp_path, capsys):
    report = tmp_path / "ucf.json"
    code, out = run_check(["--dataset", "ucf101", "--root", str(tree / "ucf101"), "--workers", "2",
                           "--min-frames", "64", "--report", str(report)], capsys)
    assert code == 0, out
    data = json.loads(report.read_text())
    assert data["files"] == 6 and data["unusable"] == 0
    assert data["counts"] == {"packed_bframes": 2, "short": 6}  # 40-frame videos are short of 64 frames
    assert "0 unusable file(s)" in out
    for dataset in ("hmdb51", "kinetics400"):
        code, out = run_check(["--dataset", dataset, "--root", str(tree / dataset), "--workers", "1"], capsys)
        assert code == 0, out


def test_data_check_reports_the_dx50_header_quirk_as_information(tree, tmp_path, capsys):
    report = tmp_path / "hmdb.json"
    code, out = run_check(["--dataset", "hmdb51", "--root", str(tree / "hmdb51"), "--workers", "1",
                           "--report", str(report)], capsys)
    assert code == 0, out
    data = json.loads(report.read_text())
    assert data["unusable"] == 0 and data["counts"] == {"packed_bframes": 1, "header_count": 1}
    assert "header counts 41 frames, the decoder outputs 40" in out


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_data_check_names_every_unusable_file_by_kind(tree, tmp_path, capsys, mode):
    broken = tmp_path / "ucf101"
    shutil.copytree(tree / "ucf101", broken)
    (broken / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g08_c01.avi").unlink()  # missing
    (broken / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g01_c01.avi").write_bytes(b"not a video" * 50)  # unopenable
    cut = broken / "HandstandPushups" / "v_HandStandPushups_g08_c01.avi"  # a cut download: header says 40
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    report = tmp_path / "broken.json"
    code, out = run_check(["--dataset", "ucf101", "--root", str(broken), "--workers", "2",
                           "--report", str(report), "--mode", mode], capsys)
    assert code == 1
    findings = {Path(f["path"]).name: f["kind"] for f in json.loads(report.read_text())["findings"]}
    assert findings == {"v_ApplyEyeMakeup_g08_c01.avi": "missing", "v_ApplyEyeMakeup_g01_c01.avi": "unopenable",
                        "v_HandStandPushups_g08_c01.avi": "truncated", "v_YoYo_g08_c01.avi": "packed_bframes",
                        "v_YoYo_g01_c01.avi": "packed_bframes"}
    assert "3 unusable file(s)" in out and "truncated" in out


def make(*args: str) -> subprocess.CompletedProcess:
    if not (REPO / ".venv" / "bin" / "vssl-bench").exists():
        pytest.skip("the Makefile targets run .venv/bin/vssl-bench: run the tests with `make test`")
    return subprocess.run(["make", "--no-print-directory", "-C", str(REPO), *args], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("paper", sorted(paper_grids()))
def test_make_reproduce_dry_run_lists_the_papers_cells(tree, paper):
    """The README's command, with ARGS passing an option through as a user would type it."""
    done = make(f"reproduce-{paper}", f"DATA={tree}", "ARGS=--dry-run")
    assert done.returncode == 0, done.stderr
    for cell in paper_grids()[paper]:
        assert cell.id("paper") in done.stdout
        assert f"--data-root {tree}" in done.stdout


def test_make_reproduce_without_data_says_how():
    done = make("reproduce-rspnet")
    assert done.returncode != 0 and "DATA=" in done.stderr


# the cheapest paper cell of each method on a CPU (R(2+1)D-10 cells took 2.5-5 min each here)
ONE_CELL = {"rspnet": "r3d18_k400", "pace": "r3d10_ucf101", "prp": "r3d10_ucf101", "ascnet": "r3d18_k400"}


def fit_heldout(recipe: Path, tmp_path: Path) -> Path:
    """The paper recipe with its held-out validation videos (PRP: 800) cut to 2, which the tiny tree
    can spare; everything else unchanged."""
    spec = yaml.safe_load(recipe.read_text())
    for part in [spec["data"], *spec["finetune"]["datasets"].values()]:
        if part.get("heldout"):
            part["heldout"] = 2
    out = tmp_path / recipe.name
    out.write_text(yaml.safe_dump(spec))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(ONE_CELL))
def test_paper_scale_cell_runs_end_to_end_on_the_official_layouts(tree, tmp_path, method):
    """Pretrain -> fine-tune (UCF101, HMDB51) -> retrieval -> leaderboard with the paper recipe itself
    (full-size backbone, paper clip sizes), one batch per stage."""
    recipe = fit_heldout(REPO / "experiments" / method / f"{ONE_CELL[method]}.yaml", tmp_path)
    results = tmp_path / "results"
    main(["evaluate", "--config", str(recipe), "--scale", "paper", "--data-root", str(tree),
          "--results", str(results), "--trainer.accelerator", "cpu", "--trainer.max-epochs", "1",
          "--trainer.limit-train-batches", "1", "--trainer.limit-val-batches", "1",
          "--trainer.limit-test-batches", "1", "--trainer.num-workers", "0"])
    cell = f"{method}-{ONE_CELL[method].replace('_', '-')}-paper"
    records = {p.stem: json.loads(p.read_text()) for p in (results / "runs" / cell).glob("*.json")}
    expected = {"pretrain"} | {f"{section}-{dataset}" for section in ("finetune", "retrieval")
                               for dataset in getattr(load_recipe(recipe), section).datasets}
    assert set(records) == expected
    assert all(r["status"] == "ok" for r in records.values()), {k: r.get("error") for k, r in records.items()}
    for record in records.values():
        assert record["scale"] == "paper" and record["skipped_videos"] == {"replaced": 0, "dropped": 0, "reasons": []}
    table = pd.read_csv(results / "leaderboard.csv")
    mine = table[(table["source"] == "reproduced") & (table["scale"] == "paper")]
    assert {"Top-1 Accuracy", "R@1"} <= set(mine["Metric"]) and len(set(mine["Model"])) == 1
