"""The leaderboard: the papers' reported rows beside reproduced run records, in Papers-With-Code form.

:func:`write_leaderboard` writes into ``results/``: ``leaderboard.csv`` (one row per metric value, every
column) and ``leaderboard.md`` (the paper-style tables, one per protocol, scale and dataset, then every
row; :mod:`~vssl_bench.report.tables`), ``leaderboard.json`` (the sota-extractor evaluation-tables
schema, only rows with a paper behind them or reproductions on real data) and ``leaderboard-quick.json``
(the synthetic quick rows, same schema; :mod:`~vssl_bench.report.papers_with_code`), ``model-index.yml``
(:mod:`~vssl_bench.report.model_index`) and ``index.html`` (one self-contained page, filterable, no
network; :mod:`~vssl_bench.report.page`). The rows come from :mod:`~vssl_bench.report.rows`.

Every file is rendered first and then written whole by :func:`vssl_bench.records.write_atomic`: a
reader (or a second writer) never sees a half-written file, and a failure leaves the previous one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from vssl_bench import catalog
from vssl_bench.records import load_records, write_atomic
from vssl_bench.report import paper_tables
from vssl_bench.report.model_index import model_index_yaml
from vssl_bench.report.page import build_panels, render_html
from vssl_bench.report.papers_with_code import evaluation_tables
from vssl_bench.report.rows import REPORTED, reported_rows, reproduced_rows
from vssl_bench.report.tables import PAPER_CONTEXT, build_table, pretext_rows, quick_context, render_markdown
from vssl_bench.report.terminal import terminal_summary


def _assembled(results: Path) -> tuple[pd.DataFrame, list[paper_tables.Section], dict[str, Any], list, list]:
    """The long table, its paper-style sections and the context beside them, from ``results``' run
    records and the reported rows (returned too, for the page's panels)."""
    reported_path = results / "reported.yaml" if (results / "reported.yaml").is_file() else REPORTED
    papers = yaml.safe_load(reported_path.read_text())["papers"]
    records = load_records(results / "runs")
    reproduced = reproduced_rows(records, results / "work")
    reported = reported_rows(reported_path)
    table = build_table(reported, reproduced)
    context = {"paper": PAPER_CONTEXT, "quick": quick_context(records), "papers": papers,
               "pretext": pretext_rows(records)}
    return table, paper_tables.sections(table), context, reported, reproduced


def write_leaderboard(results: str | Path = "results") -> dict[str, Path]:
    """Write the tables into ``results`` from its run records (``runs/``) and the reported rows
    (``results/reported.yaml`` if that folder has one, else the project's)."""
    results = Path(results)
    results.mkdir(parents=True, exist_ok=True)
    table, views, context, reported, reproduced = _assembled(results)
    panels = build_panels(reported, reproduced, results / "work")
    exported = table["export"].astype(bool)
    quick = table[(table["source"] != "reported") & ~exported]
    texts = {
        "csv": ("leaderboard.csv", table.drop(columns=["panel"]).to_csv(index=False)),
        "md": ("leaderboard.md", render_markdown(table, views, context)),
        "json": ("leaderboard.json", json.dumps(evaluation_tables(table[exported]), indent=2)),
        "json_quick": ("leaderboard-quick.json", json.dumps(evaluation_tables(quick), indent=2)),
        "html": ("index.html", render_html(table, views, panels, context)),
        "model_index": ("model-index.yml", model_index_yaml(table, context["papers"], catalog.method_names())),
    }
    return {key: write_atomic(results / name, text) for key, (name, text) in texts.items()}


def quick_summary(results: str | Path = "results") -> str:
    """The quick scale's verdicts as a terminal table (what ``make run`` ends with); "" without quick rows."""
    _, views, context, _, _ = _assembled(Path(results))
    return terminal_summary(views, context["pretext"])
