"""``results/model-index.yml``: the recipes and their results in the model-index schema
(paperswithcode/model-index, as MMAction2's metafiles use it): one Collection per paper, one Model per
model name, source and scale, each Result a task and dataset with its metrics (numbers only). How many
seeds a number averages, its protocol and input are metadata, not metrics."""

from __future__ import annotations

from typing import Any

import pandas as pd
import yaml

from vssl_bench import catalog


def _architecture(backbone: str) -> str:
    entry = catalog.BACKBONES.get(backbone)
    return entry.architecture if entry else backbone


def _training_data(dataset: str) -> str:
    entry = catalog.DATASETS.get(dataset)
    return entry.long if entry else dataset



def _seeds(value: Any) -> int | None:
    try:
        return None if pd.isna(value) or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def model_index(table: pd.DataFrame, papers: dict[str, dict[str, str]], names: dict[str, str]) -> dict[str, Any]:
    """``papers``: method -> title/url/code (``results/reported.yaml``); ``names``: method -> display name."""
    collection_of = {m: names.get(m, m) for m in papers}
    collections = [{"Name": collection_of[m], "Paper": {"Title": paper["title"], "URL": paper["url"]},
                    **({"Code": paper["code"]} if paper.get("code") else {})} for m, paper in papers.items()]
    models = []
    for (model, source, scale), group in table.groupby(["Model", "source", "scale"], sort=True):
        first = group.iloc[0]
        results, seeds = [], {}
        for (task, dataset, protocol), cell in group.groupby(["Task", "Dataset", "protocol"], sort=True):
            results.append({"Task": task, "Dataset": dataset,
                            "Metrics": {m: float(v) for m, v in zip(cell["Metric"], cell["Value"])}})
            n = _seeds(cell["seeds"].iloc[0]) if source != "reported" else None
            if n is not None:
                seeds[f"{task} / {dataset} ({protocol})"] = n
        metadata: dict[str, Any] = {
            "Architecture": [_architecture(first["backbone"])],
            "Training Data": _training_data(first["pretrain_data"]),
            "Scale": scale, "Source": source}
        if isinstance(first.get("epochs"), str) and first["epochs"]:
            metadata["Epochs"] = first["epochs"]
        if isinstance(first.get("input"), str) and first["input"]:
            metadata["Resolution"] = first["input"]
        if seeds:  # how many seeds each result averages
            metadata["Seeds"] = next(iter(seeds.values())) if len(set(seeds.values())) == 1 else seeds
        entry: dict[str, Any] = {"Name": f"{model} [{source}, {scale}]", "Metadata": metadata, "Results": results}
        if first["method"] in collection_of:
            entry["In Collection"] = collection_of[first["method"]]
        if isinstance(first.get("recipe"), str) and first.get("recipe"):
            entry["Config"] = first["recipe"]
        models.append(entry)
    return {"Collections": collections, "Models": models}


def model_index_yaml(table: pd.DataFrame, papers: dict[str, dict[str, str]], names: dict[str, str]) -> str:
    """The text of ``model-index.yml``."""
    return ("# vssl-bench: recipes and results in the model-index schema (paperswithcode/model-index)\n"
            + yaml.safe_dump(model_index(table, papers, names), sort_keys=False, allow_unicode=True))
