"""The leaderboard's files other than the page (issue 26): rows filed by kind and protocol, the
Papers-With-Code export, model-index metadata, and markdown that fits GitHub."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import yaml
from test_leaderboard_fixtures import write_records

from vssl_bench.report import paper_tables
from vssl_bench.report.leaderboard import write_leaderboard


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    write_records(root, logs=False)
    return write_leaderboard(root)


def test_a_frozen_backbone_fine_tune_is_a_linear_probe_not_compared_with_the_papers_fine_tuning(out):
    table = pd.read_csv(out["csv"])
    prp = table[(table["Model"] == "PRP (C3D, UCF101)") & (table["source"] == "reproduced")]
    (row,) = prp.itertuples()
    assert row.protocol == "linear-probe" and row.Task == "Self-Supervised Action Recognition Linear"
    assert pd.isna(row.paper_value) and pd.isna(row.delta)  # not against the paper's fine-tuned 69.1
    md = out["md"].read_text()
    finetuned = md.split("### Full fine-tuning: UCF101", 1)[1].split("###", 1)[0]
    assert "50.0" not in finetuned
    assert "50.0" in md.split("### Linear probe (a trained linear layer on the frozen backbone): UCF101", 1)[1]
    # the retrieval records' probe is a protocol of its own, named as such
    probe = table[table["protocol"] == "frozen-feature logistic probe"]
    assert set(probe["Model"]) >= {"RSPNet (C3D, K400)", "Pace (R3D-10, Synthetic)"}


def test_8_the_papers_with_code_export_holds_no_synthetic_rows_and_one_spelling_of_tasks(out):
    tables = json.loads(out["json"].read_text())
    rows = [(t["task"], d["dataset"], r) for t in tables for d in t["datasets"] for r in d["sota"]["rows"]]
    assert rows and all(dataset != "Synthetic" and "quick" not in r["model_name"] for _, dataset, r in rows)
    assert {t["task"] for t in tables} == {"Self-Supervised Action Recognition", "Self-Supervised Video Retrieval",
                                           "Self-Supervised Action Recognition Linear"}
    ours = [r for _, _, r in rows if "[reproduced, paper scale]" in r["model_name"]]
    assert ours and all(r["paper_title"] and r["paper_url"] for r in ours)  # a reproduction names its paper
    quick = json.loads(out["json_quick"].read_text())
    assert {d["dataset"] for t in quick for d in t["datasets"]} == {"Synthetic"}
    index = yaml.safe_load(out["model_index"].read_text())
    for model in index["Models"]:
        for result in model["Results"]:
            assert "Seeds" not in result["Metrics"]
    pace = next(m for m in index["Models"] if m["Name"] == "Pace (R3D-10, Synthetic) [reproduced, quick]")
    assert pace["Metadata"]["Seeds"] == {
        "Self-Supervised Action Recognition / Synthetic (full-finetune)": 1,
        "Self-Supervised Action Recognition Linear / Synthetic (frozen-feature logistic probe)": 3,
        "Self-Supervised Video Retrieval / Synthetic (nn-retrieval)": 3}


def test_4_no_markdown_table_is_wider_than_16_columns(out):
    md = out["md"].read_text()
    lines = md.splitlines()
    headers = [line for line, below in zip(lines, lines[1:]) if below.startswith("|---")]
    assert len(headers) > 5 and max(line.count("|") - 1 for line in headers) <= 16


def test_1_markdown_gives_every_paper_number_its_source_input_and_a_run_command(out):
    md = out["md"].read_text()
    retrieval = md.split("### Nearest-neighbour retrieval (test videos query the training videos): UCF101", 1)[1]
    pace = next(line for line in retrieval.splitlines() if line.startswith("| [Pace](") and "| C3D |" in line)
    assert "16×112²" in pace and "[RSPNet supp](https://github.com/PeihaoChen/RSPNet)" in pace
    assert "pretraining data presumed (UCF101)" in pace
    assert "not run: `vssl-bench evaluate --config experiments/pace/c3d_ucf101.yaml --scale paper " \
           "--data-root DATA`" in retrieval
    assert "one number, two readings" in md  # the headline's footnote
    assert "PRP: [Video Playback Rate Perception for Self-supervised Spatio-Temporal Representation Learning]" \
           "(https://arxiv.org/abs/2006.11476)" in md  # each paper linked once, at the top


def test_9_markdown_numbers_keep_one_decimal_and_recall_columns_sort_by_k(out):
    md = out["md"].read_text()
    hmdb = md.split("### Full fine-tuning: HMDB51", 1)[1].split("###", 1)[0]
    assert "| 35.0 |" in hmdb and "| 35 |" not in hmdb
    every = md.split("## Every row", 1)[1]
    recalls = re.findall(r"\| retrieval \| UCF101 \| (R@\d+) \|", every)
    assert list(dict.fromkeys(recalls)) == ["R@1", "R@5", "R@10", "R@20", "R@50"]  # by k, not as text
    assert "pretrain_data" not in md


def test_significance_is_judged_against_the_seed_spread():
    assert paper_tables.judge(3.0, 1.0, 3) == "up"  # 3 > 2 * 1 * sqrt(4/3)
    assert paper_tables.judge(-2.0, 1.0, 3) == "within"
    assert paper_tables.judge(-5.0, 1.0, 3) == "down"
    assert paper_tables.judge(5.0, float("nan"), 1) == "unknown"
    # against random init: beyond the larger of the two seed standard deviations (issue #25's rule)
    assert paper_tables.judge(2.0, 1.0, 3, 1.5, 3, against_paper=False) == "up"
    assert paper_tables.judge(1.4, 1.0, 3, 1.5, 3, against_paper=False) == "within"  # 1.4 < 1.5, though > 1.0
    assert paper_tables.judge(-1.6, 1.5, 3, 0.2, 3, against_paper=False) == "down"
    assert paper_tables.judge(2.0, 1.0, 3, float("nan"), 1, against_paper=False) == "unknown"
    assert paper_tables.chance("Synthetic", "Top-1 Accuracy") == 25.0  # four speed classes
    assert paper_tables.chance("Synthetic", "R@20") > 99.6  # saturated at 4 classes


def test_without_any_record_the_tables_hold_the_papers_numbers_each_with_a_run_command(tmp_path):
    out = write_leaderboard(tmp_path)
    table = pd.read_csv(out["csv"])
    assert set(table["source"]) == {"reported"} and len(table) > 40
    assert json.loads(out["json_quick"].read_text()) == []
    md = out["md"].read_text()
    assert md.count("not run: `vssl-bench evaluate --config experiments/") >= 20 and "## Quick scale" not in md


def test_epochs_follow_the_command_line_override_and_recipes_are_shown_relative_to_the_project():
    from vssl_bench.report.record_panels import REPO, recipe_path, stage_epochs

    pre = {"config": {"trainer": {"max_epochs": 4}}, "recipe": str(REPO / "experiments/pace/r3d10_ucf101.yaml"),
           "command": "vssl-bench evaluate --config x.yaml --scale quick --trainer.max-epochs 2"}
    assert stage_epochs(pre) == 2 and stage_epochs({**pre, "command": ""}) == 4
    ft = {"dataset": "ucf101", "config": {"datasets": {"ucf101": {"epochs": 160}}}}
    assert stage_epochs(ft) == 160 and stage_epochs(None) is None
    assert recipe_path(pre) == "experiments/pace/r3d10_ucf101.yaml"
