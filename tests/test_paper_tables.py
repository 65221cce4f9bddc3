"""The paper-style views of the leaderboard (markdown and model-index.yml); the page is tested in a
browser in test_leaderboard_page.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vssl_bench.records import write_record
from vssl_bench.report.leaderboard import write_leaderboard


def _records(tmp_path):
    base = {"status": "ok", "method": "prp", "backbone": "c3d", "pretrain_data": "ucf101", "scale": "paper",
            "cell": "prp-c3d-ucf101-paper", "recipe": "experiments/prp/c3d_ucf101.yaml"}
    for seed, top1 in ((0, 60.0), (1, 62.0)):
        write_record(tmp_path / "runs" / f"s{seed}" / "ft.json",
                     {**base, "cell": base["cell"] + (f"-seed{seed}" if seed else ""), "seed": seed,
                      "stage": "finetune-ucf101", "split": 1, "dataset": "ucf101", "metrics": {"top1": top1}})


def test_markdown_has_the_paper_row_and_ours_with_spread_and_delta(tmp_path):
    _records(tmp_path)
    md = write_leaderboard(tmp_path)["md"].read_text()
    section = md.split("### Full fine-tuning: UCF101", 1)[1].split("###", 1)[0]
    header = next(line for line in section.splitlines() if line.startswith("| Method"))
    assert header.split("|")[1:-1] == [" Method ", " Backbone ", " Pretrained on ", " Input ", " Pretrain epochs ",
                                       " Source ", " Top-1 ", " 3-fold "]
    prp = [line for line in section.splitlines() if "| C3D | UCF101 |" in line and "PRP" in line]
    assert len(prp) == 2  # the paper's row, then ours
    paper, ours = ([c.strip() for c in line.strip("|").split("|")] for line in prp)
    assert paper[5:] == ["[PRP README](https://github.com/yuanyao366/PRP)", "69.1", ""]
    assert ours[5:] == ["ours, 2 seeds", "61.0 ± 1.4 (-8.1 ▼)", ""]  # two seeds: mean 61, sample std 1.41


def test_model_index_lists_papers_and_models_with_their_results(tmp_path):
    _records(tmp_path)
    index = yaml.safe_load(write_leaderboard(tmp_path)["model_index"].read_text())
    assert {c["Name"] for c in index["Collections"]} == {"RSPNet", "Pace", "PRP", "ASCNet"}
    ours = next(m for m in index["Models"] if m["Name"] == "PRP (C3D, UCF101) [reproduced, paper]")
    assert ours["In Collection"] == "PRP" and ours["Config"] == "experiments/prp/c3d_ucf101.yaml"
    assert ours["Metadata"]["Architecture"] == ["C3D"]
    (result,) = ours["Results"]
    assert result["Task"] == "Self-Supervised Action Recognition" and result["Dataset"] == "UCF101"
    assert result["Metrics"] == {"Top-1 Accuracy": 61.0} and ours["Metadata"]["Seeds"] == 2  # metadata, not a metric
    reported = next(m for m in index["Models"] if m["Name"] == "PRP (C3D, UCF101) [reported, paper]")
    assert any(r["Metrics"].get("Top-1 Accuracy") == 69.1 for r in reported["Results"])


def _validator_errors(data: dict, folder) -> list[str]:
    """What the model-index package's own checker says of ``data`` written as ``model-index.yml``."""
    from modelindex import load

    path = folder / "model-index.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load(str(path)).check(silent=True)


def test_the_committed_and_a_generated_model_index_pass_the_packages_validator(tmp_path):
    from modelindex import load

    committed = Path(__file__).resolve().parents[1] / "results" / "model-index.yml"
    assert load(str(committed)).check(silent=True) == []
    _records(tmp_path)
    generated = write_leaderboard(tmp_path)["model_index"]
    assert load(str(generated)).check(silent=True) == []


@pytest.mark.parametrize("damage, complaint", [
    (lambda model: model.pop("Name"), "Name"),
    (lambda model: model["Results"][0].pop("Task"), "Task"),
    (lambda model: model["Results"][0].pop("Dataset"), "Dataset"),
    (lambda model: model["Results"][0].update(Metrics="61.0"), "Metrics"),
    (lambda model: model.update({"In Collection": "PRP-v2"}), "collection"),
])
def test_a_broken_model_index_is_rejected_by_the_validator(tmp_path, damage, complaint):
    """The check above can fail: the same validator rejects a copy with one field broken."""
    _records(tmp_path)
    data = yaml.safe_load(write_leaderboard(tmp_path)["model_index"].read_text())
    assert _validator_errors(data, tmp_path) == []
    damage(data["Models"][0])
    errors = _validator_errors(data, tmp_path)
    assert errors and complaint in " ".join(errors), errors
