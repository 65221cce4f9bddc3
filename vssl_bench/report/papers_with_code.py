"""The Papers-With-Code export: ``leaderboard.json`` and ``leaderboard-quick.json`` in the sota-extractor
evaluation-tables schema (``model-index.yml`` is :mod:`vssl_bench.report.model_index`)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from vssl_bench.report import paper_tables
from vssl_bench.report.rows import LOGISTIC_PROBE


def evaluation_tables(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The sota-extractor TaskDB v01 JSON: a list of tasks, each with datasets and their sota rows.
    A reproduced row is named ``<model> [<source>, <scale> scale]``, with its paper's title and link."""
    papers = {m: r for m, r in table[table["source"] == "reported"].groupby("method").first().iterrows()}
    tasks = []
    for task, by_task in table.groupby("Task", sort=True):
        datasets = []
        for dataset, by_data in by_task.groupby("Dataset", sort=True):
            metrics = sorted(by_data["Metric"].unique(), key=paper_tables.metric_key)
            rows = []
            for (model, source, scale, protocol), group in by_data.groupby(["Model", "source", "scale", "protocol"],
                                                                           sort=False):
                first = group.iloc[0]
                paper = first if source == "reported" else papers.get(first["method"])
                name = model
                if source != "reported":
                    name = f"{model} [{source}, {scale} scale" + (f", {protocol}" if protocol == LOGISTIC_PROBE else "") + "]"
                code = str(paper["code_url"]) if paper is not None and isinstance(paper["code_url"], str) else ""
                rows.append({
                    "model_name": name,
                    "paper_title": str(paper["paper_title"]) if paper is not None else "",
                    "paper_url": str(paper["paper_url"]) if paper is not None else "",
                    "paper_date": str(paper["paper_date"]) if paper is not None else None,
                    "code_links": [{"title": code.split("github.com/")[-1], "url": code}] if code else [],
                    "model_links": [],
                    "metrics": {m: f"{float(v):.1f}" for m, v in zip(group["Metric"], group["Value"])},
                    "uses_additional_data": False,
                })
            datasets.append({"dataset": dataset, "description": "", "subdatasets": [], "dataset_links": [],
                             "dataset_citations": [], "sota": {"metrics": metrics, "rows": rows}})
        tasks.append({"task": task, "description": "", "categories": ["Computer Vision"], "datasets": datasets,
                      "subtasks": [], "synonyms": [], "source_link": None})
    return tasks

