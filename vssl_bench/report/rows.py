"""The leaderboard's rows: one per number the papers report (``results/reported.yaml``) and one per
metric of our run records, averaged over seeds.

Rows are filed by what a record measured (``kind`` and ``protocol``, from
:func:`vssl_bench.records.kind_and_protocol`), never by stage names: a fine-tuning record with a
frozen backbone lands among the linear probes, not beside the papers' fine-tuned numbers; the retrieval
records' ``probe_top1`` (logistic regression on the frozen features) is a protocol of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from vssl_bench import catalog
from vssl_bench.records import kind_and_protocol
from vssl_bench.report import record_panels

# Papers-With-Code task names, capitalised one way
TASK_FT = "Self-Supervised Action Recognition"
TASK_RETRIEVAL = "Self-Supervised Video Retrieval"
TASK_LINEAR = "Self-Supervised Action Recognition Linear"
LOGISTIC_PROBE = "frozen-feature logistic probe"  # the retrieval records' probe_top1
PROTOCOL_TASKS = {"full-finetune": TASK_FT, "linear-probe": TASK_LINEAR, LOGISTIC_PROBE: TASK_LINEAR,
                  "nn-retrieval": TASK_RETRIEVAL}
VARIANT_NAMES = {"1000ep": "1000 epochs"}
RECALL_K = (1, 5, 10, 20, 50)

# the papers' numbers, kept with the project; a results folder may carry its own copy instead
REPORTED = Path(__file__).resolve().parents[2] / "results" / "reported.yaml"


def model_name(method: str, backbone: str, pretrain: str, variant: str = "") -> str:
    """Papers-With-Code style: ``RSPNet (S3D-G, K400)``, ``RSPNet (S3D-G, K400, 1000 epochs)``."""
    parts = [catalog.backbone_names().get(backbone, backbone), catalog.dataset_names().get(pretrain, pretrain)]
    if variant:
        parts.append(VARIANT_NAMES.get(variant, variant))
    return f"{catalog.method_names().get(method, method)} ({', '.join(parts)})"


def panel_key(source: str, protocol: str, dataset: str, model: str, scale: str) -> str:
    return "|".join((source, protocol, dataset, model, scale))


# --- the papers' rows ------------------------------------------------------------------------------
def _recipe_of(method: str, backbone: str, pretrain: str, variant: str) -> str:
    try:
        recipe = catalog.recipe_file(method, backbone, pretrain, variant)
    except KeyError:
        return ""
    return recipe if (REPORTED.parents[1] / recipe).is_file() else ""


def reported_rows(path: Path) -> list[dict[str, Any]]:
    """One row per reported number, with its sources (labels and links), input, pretraining epochs
    and remark; a number with two readings (RSPNet's 93.7) gives a row per reading, the first exported."""
    spec = yaml.safe_load(Path(path).read_text())
    papers, sources = spec["papers"], spec.get("sources", {})
    rows = []

    def add(row: dict[str, Any], protocol: str, metric: str, value: float, export: bool = True) -> None:
        paper, variant = papers[row["method"]], row.get("variant", "")
        refs = [str(s) for s in row.get("source", [])]
        model = model_name(row["method"], row["backbone"], row["pretrain"], variant)
        remark = str(row.get("remark", ""))
        rows.append({
            "Task": PROTOCOL_TASKS[protocol], "Dataset": catalog.dataset_names()[row["dataset"]], "Metric": metric,
            "Value": float(value), "Model": model, "method": row["method"], "backbone": row["backbone"],
            "pretrain_data": row["pretrain"], "variant": variant, "source": "reported", "scale": "paper",
            "protocol": protocol, "input": str(row.get("input", "")), "epochs": str(row.get("epochs", "")),
            "reference": " + ".join(refs), "reference_url": " ".join(str(sources.get(s, "")) or "-" for s in refs),
            "remark": remark, "paper_title": paper["title"], "paper_url": paper["url"], "paper_date": paper["date"],
            "code_url": paper["code"], "note": " + ".join(refs) + (f"; {remark}" if remark else ""),
            "recipe": _recipe_of(row["method"], row["backbone"], row["pretrain"], variant), "export": export,
            "panel": panel_key("reported", protocol, catalog.dataset_names()[row["dataset"]], model, "paper")})

    for row in spec["finetune"]:
        add(row, "full-finetune", "Top-1 Accuracy", row["top1"])
    for row in spec["retrieval"]:
        for k, value in zip(RECALL_K, row["recall"]):
            add(row, "nn-retrieval", f"R@{k}", value)
    for row in spec.get("headline", []):  # rows named exactly as Papers-With-Code lists them
        for i, metric in enumerate(row["metrics"]):
            add(row, "full-finetune", metric, row["value"], export=i == 0)
    return rows


# --- our rows --------------------------------------------------------------------------------------
def skipped_note(stage: dict[str, Any], pretrain: dict[str, Any] | None) -> str:
    """``"; 3 videos replaced in pretraining, 1 dropped (undecodable)"``, or "" when nothing was skipped."""
    parts = []
    for where, record in (("pretraining", pretrain), ("this stage", stage)):
        skipped = (record or {}).get("skipped_videos") or {}
        if skipped.get("replaced"):
            parts.append(f"{skipped['replaced']} videos replaced in {where}")
        if skipped.get("dropped"):
            parts.append(f"{skipped['dropped']} videos dropped in {where}")
    return f"; {', '.join(parts)} (undecodable)" if parts else ""


def test_set_remark(record: dict[str, Any]) -> str:
    """``"97 of 100 test videos"`` when a stage left undecodable test videos out (its number is then over
    a smaller test set than the paper's), else ""."""
    metrics = record.get("metrics") or {}
    if metrics.get("undecodable_videos"):
        kept, lost = int(metrics.get("videos", 0)), int(metrics["undecodable_videos"])
        return f"{kept} of {kept + lost} test videos (undecodable ones left out)"
    if metrics.get("undecodable_queries") or metrics.get("undecodable_gallery"):
        q, dq = int(metrics.get("queries", 0)), int(metrics.get("undecodable_queries", 0))
        g, dg = int(metrics.get("gallery", 0)), int(metrics.get("undecodable_gallery", 0))
        return f"{q} of {q + dq} query and {g} of {g + dg} gallery videos (undecodable ones left out)"
    return ""


def selection_note(metrics: dict[str, Any]) -> str:
    """Which fine-tuning epoch the number is from, and the last epoch's number when they differ."""
    select = metrics.get("select", "last")
    if select == "last" or "top1_last" not in metrics:
        return ""
    return f"; {select} epoch {metrics.get('selected_epoch')} (last epoch: {metrics['top1_last']:.2f})"


def _input(record: dict[str, Any], kind: str) -> str:
    """``16x112``: frames x crop side of the stage's clips, from its config."""
    config = record.get("config") or {}
    spec = (config.get("datasets") or {}).get(record.get("dataset"), {}) if kind == "finetune" else config
    if isinstance(spec, dict) and spec.get("clip_len") and spec.get("crop_size"):
        return f"{spec['clip_len']}x{spec['crop_size']}"
    return ""


def _epochs(record: dict[str, Any], pretrain: dict[str, Any] | None) -> str:
    if record.get("method") == "scratch":
        return "none"
    if record.get("source") == "official weights":
        return "authors' weights"
    epochs = record_panels.stage_epochs(pretrain)
    return str(epochs) if epochs else ""


def reproduced_rows(records: list[dict[str, Any]], work: Path | None = None) -> list[dict[str, Any]]:
    """One row per metric of every ok downstream record, averaged over seeds (``std``, ``seeds``);
    each row keeps its records (``_records``, ``_pretrains``) and values by seed (``_by_seed``)."""
    classified = [(r, *kind_and_protocol(r)) for r in records if r.get("status") == "ok"]
    pretrained = {r.get("cell"): r for r, kind, _ in classified if kind == "pretrain"}
    rows = []
    for r, kind, protocol in classified:
        if kind == "pretrain":
            continue
        pretrain = r.get("pretrain_data", "none")
        pre = pretrained.get(r.get("cell"))
        source = r.get("source", "reproduced")
        model = model_name(r["method"], r["backbone"], pretrain, r.get("variant", ""))
        dataset = catalog.dataset_names().get(r["dataset"], r["dataset"])
        common = {"Dataset": dataset, "method": r["method"], "backbone": r["backbone"], "pretrain_data": pretrain,
                  "Model": model, "variant": r.get("variant", ""), "source": source, "scale": r.get("scale", ""),
                  "paper_title": "", "paper_url": "", "paper_date": "", "code_url": "",
                  "input": _input(r, kind), "epochs": _epochs(r, pre), "reference": "", "reference_url": "",
                  "remark": "; ".join(filter(None, ["extrapolated: no paper recipe for this cell" if r.get("extrapolated")
                                                    else "", test_set_remark(r)])),
                  "note": f"{r.get('device', '')}, {r.get('wall_s', 0):.0f}s".strip(", ")
                  + skipped_note(r, pre)
                  + ("; extrapolated: no paper recipe for this cell" if r.get("extrapolated") else ""),
                  "cell": r.get("cell", ""), "seed": int(r.get("seed") or 0), "recipe": record_panels.recipe_path(r),
                  "export": r.get("scale") != "quick" and r["dataset"] != "synthetic",
                  "_record": r, "_pretrain": pre}
        metrics = r.get("metrics", {})
        if kind == "finetune":
            if int(r.get("split", 1)) == 1:  # the papers' number; splits 2 and 3 only enter the 3-fold mean
                rows.append({**common, "protocol": protocol, "Task": PROTOCOL_TASKS[protocol],
                             "Metric": "Top-1 Accuracy", "Value": round(metrics["top1"], 2),
                             "note": common["note"] + selection_note(metrics)})
        elif kind == "retrieval":
            for k in RECALL_K:
                if f"R@{k}" in metrics:
                    rows.append({**common, "protocol": protocol, "Task": TASK_RETRIEVAL, "Metric": f"R@{k}",
                                 "Value": round(metrics[f"R@{k}"], 2)})
            if "probe_top1" in metrics:  # logistic regression on the same frozen features
                rows.append({**common, "protocol": LOGISTIC_PROBE, "Task": TASK_LINEAR, "Metric": "Top-1 Accuracy",
                             "Value": round(metrics["probe_top1"], 2)})
    rows += three_fold_rows(rows_by_split(classified), rows)
    for row in rows:
        row["panel"] = panel_key(row["source"], row["protocol"], row["Dataset"], row["Model"], row["scale"])
    return over_seeds(rows)


SAME_ROW = ["Task", "Dataset", "Metric", "Model", "method", "backbone", "pretrain_data", "variant", "source", "scale",
            "protocol"]


def over_seeds(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per model, scale, protocol and metric: ``Value`` is the mean over the seeds that ran it,
    ``std`` their sample standard deviation (NaN for one seed), ``seeds`` how many; the note is seed 0's."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(str(row.get(k, "")) for k in SAME_ROW), []).append(row)
    out = []
    for group in groups.values():
        group = sorted(group, key=lambda r: r["seed"])
        values = pd.Series([float(r["Value"]) for r in group])
        row = {k: v for k, v in group[0].items() if k not in ("_record", "_pretrain")}
        row.update(Value=round(values.mean(), 2), seeds=len(values),
                   std=round(values.std(ddof=1), 2) if len(values) > 1 else float("nan"),
                   _records=[r["_record"] for r in group], _pretrains=[r["_pretrain"] for r in group],
                   _by_seed={r["seed"]: round(float(r["Value"]), 2) for r in group})
        out.append(row)
    return out


def rows_by_split(classified: list[tuple[dict[str, Any], str, str]]) -> dict[tuple[str, ...], dict[int, float]]:
    """Fine-tuning top-1 per (cell, dataset, scale, protocol) and split."""
    out: dict[tuple[str, ...], dict[int, float]] = {}
    for r, kind, protocol in classified:
        if kind == "finetune":
            key = (r["cell"], r["dataset"], r.get("scale", ""), protocol)
            out.setdefault(key, {})[int(r.get("split", 1))] = float(r["metrics"]["top1"])
    return out


def three_fold_rows(by_split: dict[tuple[str, ...], dict[int, float]],
                    rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A ``3-fold Accuracy`` row (the mean over splits 1-3) where all three splits finished."""
    out = []
    for (cell, dataset, scale, protocol), splits in by_split.items():
        if set(splits) != {1, 2, 3}:
            continue
        split1 = next((row for row in rows if row["Metric"] == "Top-1 Accuracy" and row["protocol"] == protocol
                       and row["cell"] == cell and row["Dataset"] == catalog.dataset_names().get(dataset, dataset)
                       and row["scale"] == scale), None)
        if split1 is not None:
            out.append({**split1, "Metric": "3-fold Accuracy", "Value": round(sum(splits.values()) / 3, 2)})
    return out

