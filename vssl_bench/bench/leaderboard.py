"""The leaderboard: the papers' reported rows beside reproduced run records, in Papers-With-Code form.

Rows are filed by what a record measured (``kind`` and ``protocol``, from
:func:`vssl_bench.bench.records.kind_and_protocol`), never by stage names: a fine-tuning record with a
frozen backbone lands among the linear probes, not beside the papers' fine-tuned numbers; the retrieval
records' ``probe_top1`` (logistic regression on the frozen features) is a protocol of its own.

Writes into ``results/``: ``leaderboard.csv`` (one row per metric value, every column), ``leaderboard.md``
(the paper-style tables, one per protocol, scale and dataset, then every row), ``leaderboard.json`` (the
sota-extractor evaluation-tables schema, only rows with a paper behind them or reproductions on real
data), ``leaderboard-quick.json`` (the synthetic quick rows, same schema), ``model-index.yml`` and
``index.html`` (one self-contained page, filterable, no network).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from vssl_bench import catalog
from vssl_bench.bench import paper_tables, record_panels
from vssl_bench.bench.grids import Cell
from vssl_bench.bench.model_index import write_model_index
from vssl_bench.bench.records import kind_and_protocol, load_records

# Papers-With-Code task names, capitalised one way
TASK_FT = "Self-Supervised Action Recognition"
TASK_RETRIEVAL = "Self-Supervised Video Retrieval"
TASK_LINEAR = "Self-Supervised Action Recognition Linear"
LOGISTIC_PROBE = "frozen-feature logistic probe"  # the retrieval records' probe_top1
PROTOCOL_TASKS = {"full-finetune": TASK_FT, "linear-probe": TASK_LINEAR, LOGISTIC_PROBE: TASK_LINEAR,
                  "nn-retrieval": TASK_RETRIEVAL}
VARIANT_NAMES = {"1000ep": "1000 epochs"}
RECALL_K = (1, 5, 10, 20, 50)
COLUMNS = ["Task", "Dataset", "Metric", "Value", "std", "seeds", "Model", "method", "backbone", "pretrain_data",
           "variant", "source", "scale", "protocol", "input", "epochs", "reference", "reference_url", "remark",
           "paper_value", "delta", "baseline_value", "baseline_std", "baseline_seeds", "delta_baseline",
           "paper_title", "paper_url", "paper_date", "code_url", "note", "recipe", "export", "panel"]


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
        recipe = Cell(method, backbone, pretrain, variant).recipe
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


# --- the long table --------------------------------------------------------------------------------
def _sort_key(table: pd.DataFrame) -> pd.Series:
    tasks = {t: i for i, t in enumerate((TASK_FT, TASK_LINEAR, TASK_RETRIEVAL))}
    protocols = {p: i for i, p in enumerate(paper_tables.PROTOCOL_TITLES)}
    data = {d: i for i, d in enumerate(paper_tables.DATASET_ORDER)}
    backbones = {b: i for i, b in enumerate(catalog.BACKBONES)}
    methods = {m: i for i, m in enumerate(catalog.method_names())}
    return pd.Series([(tasks.get(r.Task, 9), protocols.get(r.protocol, 9), data.get(r.Dataset, 9),
                       paper_tables.metric_key(r.Metric), r.scale != "paper", backbones.get(r.backbone, 9),
                       methods.get(r.method, 9), str(r.pretrain_data), str(r.variant), r.source != "reported",
                       str(r.source)) for r in table.itertuples()], index=table.index)


def build_table(reported: list[dict[str, Any]], reproduced: list[dict[str, Any]]) -> pd.DataFrame:
    """Reported and reproduced rows in one frame; a reproduced row carries the paper's number and Δ
    where the paper has one (same protocol, dataset, metric, model), and random init of the same
    backbone (value, spread, Δ) where that baseline ran."""
    ours = pd.DataFrame([{k: v for k, v in r.items() if not k.startswith("_")} for r in reproduced])
    rep = pd.DataFrame(reported)
    table = pd.concat([rep, ours], ignore_index=True)
    if table.empty:
        return pd.DataFrame(columns=COLUMNS)
    table["variant"] = table["variant"].fillna("") if "variant" in table else ""
    for col in ("std", "seeds"):  # absent when nothing was reproduced yet
        if col not in table:
            table[col] = float("nan")
    key = ["Task", "Dataset", "Metric", "protocol", "method", "backbone", "pretrain_data", "variant"]
    if not rep.empty:
        rep["variant"] = rep["variant"].fillna("")
        paper = rep[key + ["Value"]].drop_duplicates(key).rename(columns={"Value": "paper_value"})
        table = table.merge(paper, on=key, how="left")
        table.loc[table["source"] == "reported", "paper_value"] = float("nan")
    else:
        table["paper_value"] = float("nan")
    table["delta"] = (table["Value"] - table["paper_value"]).round(2)
    base_key = ["Task", "Dataset", "Metric", "protocol", "backbone", "scale"]
    baseline = table[(table["source"] == "reproduced") & (table["method"] == "scratch")]
    baseline = baseline[base_key + ["Value", "std", "seeds"]].drop_duplicates(base_key).rename(
        columns={"Value": "baseline_value", "std": "baseline_std", "seeds": "baseline_seeds"})
    table = table.merge(baseline, on=base_key, how="left")
    no_baseline = (table["source"] == "reported") | (table["method"] == "scratch")
    table.loc[no_baseline, ["baseline_value", "baseline_std", "baseline_seeds"]] = float("nan")
    table["delta_baseline"] = (table["Value"] - table["baseline_value"]).round(2)
    for col in COLUMNS:
        if col not in table:
            table[col] = ""
    table = table[COLUMNS]
    return table.loc[_sort_key(table).sort_values().index].reset_index(drop=True)


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


# the papers' numbers, kept with the project; a results folder may carry its own copy instead
REPORTED = Path(__file__).resolve().parents[2] / "results" / "reported.yaml"


def quick_context(records: list[dict[str, Any]]) -> str:
    """The quick scale's budget, read from its records: network width, clip size, pretraining steps
    and epochs per method, seeds per protocol, time and device."""
    quick = [r for r in records if r.get("status") == "ok" and r.get("scale") == "quick"]
    if not quick:
        return ""
    kinds = [(r, kind_and_protocol(r)[0]) for r in quick]
    pretrains = [r for r, k in kinds if k == "pretrain"]
    ft = sorted({str(record_panels.stage_epochs(r)) for r, k in kinds if k == "finetune" and record_panels.stage_epochs(r)})
    seeds = {k: sorted({int(r.get("seed") or 0) for r, kk in kinds if kk == k}) for k in ("finetune", "retrieval")}
    wall = sum(float(r.get("wall_s") or 0) for r in quick)
    devices = sorted({str(r.get("device", "")) for r in quick if r.get("device")})
    parts = []
    model = next(((r.get("config") or {}).get("model") or {} for r in pretrains), {})
    if {"backbone_width", "clip_len", "crop_size"} <= set(model):
        width = float(model["backbone_width"])
        parts.append(f"backbones at width {'1/' + format(1 / width, 'g') if width < 1 else format(width, 'g')}, "
                     f"{model['clip_len']}-frame {model['crop_size']}x{model['crop_size']} clips")
    per_method: dict[str, set[str]] = {}
    for r in pretrains:
        epochs = record_panels.stage_epochs(r)
        said = [f"{r['steps']} steps"] if r.get("steps") is not None else []
        said += [f"{epochs} epochs"] if epochs else []
        if said:
            per_method.setdefault(str(r["method"]), set()).add(said[0] + (f" ({said[1]})" if len(said) > 1 else ""))
    if per_method:
        order = list(catalog.method_names())
        parts.append("pretraining " + ", ".join(
            f"{catalog.method_names().get(m, m)} {' / '.join(sorted(v))}"
            for m, v in sorted(per_method.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)))
    if ft:
        parts.append(f"fine-tuning {', '.join(ft)} epochs")
    for kind, label in (("finetune", "fine-tuning"), ("retrieval", "frozen-feature protocols (retrieval, logistic probe)")):
        if seeds[kind]:
            parts.append(f"{label} on seed{'s' if len(seeds[kind]) > 1 else ''} {', '.join(map(str, seeds[kind]))}")
    parts.append(f"{wall / 60:.0f} min of stage time in all" + (f" on {'; '.join(devices)}" if devices else ""))
    return ("Budget: " + "; ".join(parts) + ". Chance is stated under each table; Δ compares each method "
            "with random init of the same backbone, the only comparison that means something at this scale, "
            "and is marked beyond the seed spread only when it exceeds the larger of the two standard "
            "deviations.")


# --- pretext accuracies ------------------------------------------------------------------------------
PRETEXT_NAMES = {"acc/pace": "pace (1 of 4)", "acc/rate": "playback rate", "acc/rsp": "relative speed ranking",
                 "acc/avid": "instance discrimination (A-VID)", "acc/appearance_match": "appearance match"}


def pretext_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each pretraining's pretext accuracies at the end of pretraining (the last epoch's mean), one row
    per scale, method, backbone and accuracy: values by seed, mean, std and the chance level."""
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for r in records:
        if r.get("status") != "ok" or kind_and_protocol(r)[0] != "pretrain":
            continue
        for name, entry in ((r.get("metrics") or {}).get("pretext") or {}).items():
            key = (str(r.get("scale", "")), str(r["method"]), str(r["backbone"]), str(r.get("variant", "")), name)
            row = groups.setdefault(key, {"scale": key[0], "method": key[1], "backbone": key[2], "variant": key[3],
                                          "metric": name, "chance": entry.get("chance"), "by_seed": {}})
            row["by_seed"][int(r.get("seed") or 0)] = float(entry["accuracy"])
    rows = []
    methods, backbones = catalog.method_names(), {b: i for i, b in enumerate(catalog.BACKBONES)}
    order = {m: i for i, m in enumerate(methods)}
    for row in groups.values():
        values = pd.Series(list(row["by_seed"].values()))
        row.update(mean=round(values.mean(), 2), seeds=len(values),
                   std=round(values.std(ddof=1), 2) if len(values) > 1 else float("nan"))
        rows.append(row)
    return sorted(rows, key=lambda r: (r["scale"], backbones.get(r["backbone"], 99), order.get(r["method"], 99),
                                       r["variant"], r["metric"]))


def _pretext_cells(row: dict[str, Any]) -> list[str]:
    seeds = ", ".join(f"{row['by_seed'][s]:.1f}" for s in sorted(row["by_seed"]))
    spread = f" ± {row['std']:.1f}" if paper_tables.number(row["std"]) is not None else ""
    chance = row.get("chance")
    above = "" if chance is None else (" (above chance on every seed)" if min(row["by_seed"].values()) > chance
                                       else " (not above chance on every seed)")
    return [catalog.method_names().get(row["method"], row["method"]),
            catalog.backbone_names().get(row["backbone"], row["backbone"]),
            PRETEXT_NAMES.get(row["metric"], row["metric"]), f"{row['mean']:.1f}{spread}", str(row["seeds"]), seeds,
            ("" if chance is None else f"{chance:.1f}") + above]


PRETEXT_COLUMNS = ["Method", "Backbone", "Pretext accuracy", "Mean ± std (%)", "Seeds", "By seed", "Chance"]
PRETEXT_INTRO = ("Pretext accuracy at the end of pretraining (the last epoch's mean over its steps, on the "
                 "training videos), per seed, beside the accuracy of a guess.")


def pretext_markdown(rows: list[dict[str, Any]]) -> str:
    return f"### Pretext accuracy\n\n{PRETEXT_INTRO}\n\n" + markdown_table(
        [dict(zip(PRETEXT_COLUMNS, _pretext_cells(r))) for r in rows], PRETEXT_COLUMNS) + "\n"


def pretext_html(rows: list[dict[str, Any]], scale: str) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in PRETEXT_COLUMNS)
    body = "".join(
        f'<tr class="ours" data-scale="{html.escape(r["scale"])}" data-method="{html.escape(r["method"])}" '
        f'data-source="reproduced" data-text="{html.escape(" ".join(_pretext_cells(r)[:3]).lower())}">'
        + "".join(f"<td>{html.escape(c)}</td>" for c in _pretext_cells(r)) + "</tr>" for r in rows)
    return (f'<section class="ptable" id="{scale}-pretext" data-scale="{scale}"><h3>Pretext accuracy</h3>'
            f'<p class="caption">{html.escape(PRETEXT_INTRO)}</p><div class="scroll"><table class="paper pretext">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div></section>")


def write_leaderboard(results: str | Path = "results") -> dict[str, Path]:
    """Write the tables into ``results`` from its run records (``runs/``) and the reported rows
    (``results/reported.yaml`` if that folder has one, else the project's)."""
    results = Path(results)
    results.mkdir(parents=True, exist_ok=True)
    reported_path = results / "reported.yaml" if (results / "reported.yaml").is_file() else REPORTED
    records = load_records(results / "runs")
    reproduced = reproduced_rows(records, results / "work")
    reported = reported_rows(reported_path)
    table = build_table(reported, reproduced)
    panels = build_panels(reported, reproduced, results / "work")
    out = {"csv": results / "leaderboard.csv", "md": results / "leaderboard.md", "json": results / "leaderboard.json",
           "json_quick": results / "leaderboard-quick.json", "html": results / "index.html",
           "model_index": results / "model-index.yml"}
    table.drop(columns=["panel"]).to_csv(out["csv"], index=False)
    views = paper_tables.sections(table)
    context = {"paper": PAPER_CONTEXT, "quick": quick_context(records),
               "papers": yaml.safe_load(reported_path.read_text())["papers"], "pretext": pretext_rows(records)}
    out["md"].write_text(render_markdown(table, views, context))
    exported = table["export"].astype(bool)
    out["json"].write_text(json.dumps(evaluation_tables(table[exported]), indent=2))
    quick = table[(table["source"] != "reported") & ~exported]
    out["json_quick"].write_text(json.dumps(evaluation_tables(quick), indent=2))
    out["html"].write_text(render_html(table, views, panels, context))
    write_model_index(out["model_index"], table, yaml.safe_load(reported_path.read_text())["papers"], catalog.method_names())
    return out


def build_panels(reported: list[dict[str, Any]], reproduced: list[dict[str, Any]], work: Path) -> dict[str, str]:
    """Panel key -> the HTML a click on the row opens."""
    panels = {row["panel"]: record_panels.reported_panel(row) for row in reported}
    by_key: dict[str, list[dict[str, Any]]] = {}
    for row in reproduced:
        by_key.setdefault(row["panel"], []).append(row)
    for key, group in by_key.items():
        values: dict[int, dict[str, float]] = {}
        for row in group:
            for seed, value in row["_by_seed"].items():
                values.setdefault(seed, {})[row["Metric"]] = value
        main = max(group, key=lambda r: len(r["_records"]))
        panels[key] = record_panels.reproduced_panel(main["_records"], main["_pretrains"], values, work,
                                                     paper_tables.DATASET_CLASSES.get(main["Dataset"]))
    return panels


PAPER_CONTEXT = ("Each paper's number is shown with its backbone, pretraining data, input (frames × crop), "
                 "pretraining epochs and source, linked; rows are grouped by backbone as the papers group them. "
                 "Our row sits under the paper's: the mean over seeds ± their standard deviation and Δ against "
                 "the paper, or \"not run\" with the command that runs it.")


# --- rendering -------------------------------------------------------------------------------------
LONG_COLUMNS = ["Protocol", "Dataset", "Metric", "Value", "±", "Seeds", "Model", "Scale", "Source", "Paper", "Δ"]


def long_rows(table: pd.DataFrame) -> list[dict[str, str]]:
    """The every-row table as display strings (one decimal everywhere)."""
    out = []
    for _, r in table.iterrows():
        delta, against = r["delta"], "paper"
        if paper_tables.number(delta) is None:
            delta, against = r["delta_baseline"], "random init"
        seeds = paper_tables.number(r["seeds"])
        out.append({"Protocol": paper_tables.PROTOCOL_SHORT.get(r["protocol"], r["protocol"]), "Dataset": r["Dataset"],
                    "Metric": paper_tables.METRIC_SHORT.get(r["Metric"], r["Metric"]),
                    "Value": paper_tables.fmt(r["Value"]), "±": paper_tables.fmt(r["std"]),
                    "Seeds": str(int(seeds)) if seeds else "", "Model": r["Model"], "Scale": r["scale"],
                    "Source": r["source"], "Paper": paper_tables.fmt(r["paper_value"]),
                    "Δ": (f"{paper_tables.fmt_delta(delta)} ({against})" if paper_tables.number(delta) is not None else ""),
                    "_method": r["method"], "_scale": r["scale"], "_source": r["source"],
                    "_panel": r["panel"] if isinstance(r["panel"], str) else "",
                    "_order": paper_tables.metric_key(r["Metric"])[1]})
    return out


def markdown_table(rows: list[dict[str, str]], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]).replace("|", "\\|") for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def papers_line(papers: dict[str, dict[str, str]], markdown: bool) -> str:
    """``Papers: RSPNet: <title> (2020-10-27, code), ...``, each title linked."""
    items = []
    for method, paper in papers.items():
        name, title, url, code = catalog.method_names().get(method, method), paper["title"], paper["url"], paper.get("code")
        if markdown:
            items.append(f"{name}: [{title}]({url}) ({paper['date']}" + (f", [code]({code})" if code else ", no code")
                         + ")")
        else:
            items.append(f'{html.escape(name)}: <a href="{html.escape(url)}">{html.escape(title)}</a> ({paper["date"]}'
                         + (f', <a href="{html.escape(code)}">code</a>' if code else ", no code") + ")")
    return "Papers: " + "; ".join(items) + "."


def render_markdown(table: pd.DataFrame, views: list[paper_tables.Section], context: dict[str, Any]) -> str:
    parts = ["# vssl-bench leaderboard\n\nReported = the paper's number, with its source; ours = a run record "
             "of this suite. Scale `quick` runs on the synthetic dataset and is not comparable to the papers. "
             + paper_tables.MD_LEGEND + "\n"]
    if context.get("papers"):
        parts.append(papers_line(context["papers"], markdown=True) + "\n")
    for scale in ("paper", "quick"):
        mine = [v for v in views if v.scale == scale]
        if not mine:
            continue
        parts.append(f"## {paper_tables.SCALE_TITLES[scale]}\n\n{context.get(scale, '')}\n")
        for sec in mine:
            parts.append(f"### {sec.title}\n\n{paper_tables.caption(sec)}\n\n{paper_tables.markdown(sec)}\n")
        pretext = [r for r in context.get("pretext", []) if r["scale"] == scale]
        if pretext:
            parts.append(pretext_markdown(pretext))
    parts.append("## Every row\n\n" + markdown_table(long_rows(table), LONG_COLUMNS) + "\n")
    return "\n".join(parts)


def render_html(table: pd.DataFrame, views: list[paper_tables.Section] | None = None,
                panels: dict[str, str] | None = None, context: dict[str, Any] | None = None) -> str:
    views = paper_tables.sections(table) if views is None else views
    context = context or {}
    groups = []
    for scale in ("paper", "quick"):
        mine = [v for v in views if v.scale == scale]
        if mine:
            groups.append(f'<section class="scale-group" data-scale="{scale}"><h2>{html.escape(paper_tables.SCALE_TITLES[scale])}</h2>'
                          f'<p>{html.escape(context.get(scale, ""))}</p>'
                          + "".join(paper_tables.html_section(v) for v in mine)
                          + (pretext_html(pretext, scale) if (pretext := [r for r in context.get("pretext", [])
                                                                          if r["scale"] == scale]) else "")
                          + "</section>")
    header = "".join(f'<th data-col="{html.escape(c)}">{html.escape(c)}</th>' for c in LONG_COLUMNS)
    data = json.dumps(long_rows(table)).replace("</", "<\\/")
    papers = f'<p class="papers">{papers_line(context["papers"], markdown=False)}</p>' if context.get("papers") else ""
    options = "".join(f'<option value="{html.escape(name)}">{html.escape(display)}</option>'
                      for name, display in catalog.method_names().items())  # the catalog's methods, baseline first
    return (_PAGE.replace("__LEGEND__", paper_tables.LEGEND + papers).replace("__HEADER__", header)
            .replace("__METHOD_OPTIONS__", options)
            .replace("__PAPER_TABLES__", "".join(groups))
            .replace("__SCATTER__", paper_tables.scatter_svg(table)).replace("__DATA__", data)
            .replace("__PANELS__", json.dumps(panels or {}).replace("</", "<\\/")))


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vssl-bench leaderboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:1rem 1.5rem;color:#222;font-size:15px}
table{border-collapse:collapse;font-size:.85rem}
th,td{border-bottom:1px solid #ddd;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}
#long{width:100%}#long th{cursor:pointer;position:sticky;top:0;z-index:1}
.scroll{overflow-x:auto;max-width:100%}
td.num,th.num{text-align:right;white-space:nowrap}
tr.reported td{color:#333}tr.ours td{background:#f2f8ff}tr.notrun td{color:#777;font-style:italic;background:#fcfcfc}
tr.group-start td{border-top:2px solid #999}
td.notrun-cell{max-width:40rem}td.notrun-cell code{font-style:normal;font-size:.75rem;overflow-wrap:break-word}
td.nowrap{white-space:nowrap}p.footnote{font-size:.8rem;color:#a15c00;margin:.2rem 0}
td.source{max-width:11rem}.remark{color:#a15c00;font-size:.8rem}
.delta{display:inline-block;padding:0 .25rem;border-radius:3px;font-size:.8rem;margin-left:.2rem}
td.num .delta{margin:.1rem 0 0}
.delta.up{background:#cdebcd;color:#0d4f0d}.delta.down{background:#f7cccc;color:#7a0b0b}
.delta.within{background:#ececec;color:#555}.delta.unknown{background:#fff;color:#666;border:1px dashed #aaa}
p.caption{color:#555;font-size:.85rem;margin:.2rem 0 .4rem}
input,select{margin-right:.5rem;padding:.2rem}
#filters{background:#fafafa;border:1px solid #ddd;padding:.4rem .6rem;margin:.6rem 0}
tr.has-panel{cursor:pointer}tr.panel td{background:#fafafa;font-style:normal;color:#222}
.panel dl{display:grid;grid-template-columns:max-content auto;gap:.1rem .8rem;margin:.3rem 0}
.panel dt{color:#666}.panel code{background:#eee;padding:.05rem .3rem}
table.seeds{margin:.4rem 0}table.seeds td,table.seeds th{font-size:.8rem}
.curve{display:inline-block;margin:.3rem 1rem .3rem 0;font-size:.8rem;vertical-align:top}
.muted{color:#777}
</style></head><body>
<h1>vssl-bench leaderboard</h1>
<p>Reported rows are the papers' numbers, each with its source; our rows come from this suite's run records.
Rows at scale <code>quick</code> ran on the synthetic dataset: a pipeline check, not comparable to the papers.</p>
__LEGEND__
<div id="filters">Filter every section:
<select id="scale"><option value="">all scales</option><option>paper</option><option>quick</option></select>
<select id="method"><option value="">all papers</option>__METHOD_OPTIONS__</select>
<select id="source"><option value="">all sources</option><option>reported</option><option>reproduced</option>
<option>official weights</option></select>
<input id="q" placeholder="text (model, dataset, ...)" size="28"> <span id="count"></span></div>
<div id="papers">__PAPER_TABLES__</div>
<section id="scatter-section"><h2>Reproduced against reported</h2>
<figure>__SCATTER__<figcaption>One point per metric with both numbers, coloured by paper; on the dashed diagonal,
ours equals the paper's.</figcaption></figure></section>
<section id="long-section"><h2>Every row</h2>
<p>One row per metric value; click a row for its provenance (a paper's source and setup, or our records,
per-seed values and training curves).</p>
<table id="long"><thead><tr>__HEADER__</tr></thead><tbody id="rows"></tbody></table></section>
<script>
const DATA = __DATA__;
const PANELS = __PANELS__;
const $ = id => document.getElementById(id);
function state() {
  return {scale: $('scale').value, method: $('method').value, source: $('source').value, q: $('q').value.toLowerCase()};
}
function matches(s, d) {  // d: {scale, method, source, text}
  return (!s.scale || d.scale === s.scale) && (!s.method || d.method === s.method) &&
    (!s.source || d.source === s.source || (s.source === 'reproduced' && d.source === 'ours')) &&
    (!s.q || (d.text || '').includes(s.q));
}
function togglePanel(tr) {
  const next = tr.nextElementSibling;
  if (next && next.classList.contains('panel')) { next.remove(); return false; }
  const row = document.createElement('tr');
  row.className = 'panel';
  const td = document.createElement('td');
  td.colSpan = tr.closest('table').querySelectorAll('thead th').length;
  td.innerHTML = '<div class="panel">' + (PANELS[tr.dataset.panel] || '<em>no details</em>') + '</div>';
  row.appendChild(td);
  tr.after(row);
  return true;
}
let sortCol = null, sortAsc = true;
function render(s) {
  const rows = DATA.filter(r => matches(s, {scale: r._scale, method: r._method, source: r._source,
    text: Object.values(r).join(' ').toLowerCase()}));
  if (sortCol) {
    rows.sort((a, b) => {
      if (sortCol === 'Metric' && a._order !== b._order) return sortAsc ? a._order - b._order : b._order - a._order;
      const x = parseFloat(a[sortCol]), y = parseFloat(b[sortCol]);
      const c = (!isNaN(x) && !isNaN(y)) ? x - y : String(a[sortCol]).localeCompare(String(b[sortCol]), undefined, {numeric: true});
      return sortAsc ? c : -c;
    });
  }
  const body = $('rows');
  body.innerHTML = '';
  for (const r of rows) {
    const tr = document.createElement('tr');
    tr.className = r._source === 'reported' ? 'reported' : 'ours';
    tr.dataset.scale = r._scale; tr.dataset.method = r._method; tr.dataset.source = r._source;
    if (r._panel) { tr.classList.add('has-panel'); tr.dataset.panel = r._panel;
      tr.addEventListener('click', () => togglePanel(tr)); }
    for (const th of document.querySelectorAll('#long th')) {
      const td = document.createElement('td');
      td.textContent = r[th.dataset.col];
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  $('count').textContent = rows.length + ' of ' + DATA.length + ' rows';
  $('long-section').hidden = rows.length === 0;
}
function applyFilters() {  // one filter state for every section
  const s = state();
  for (const tr of document.querySelectorAll('table.paper tbody tr:not(.panel)')) {
    tr.hidden = !matches(s, tr.dataset);
    const next = tr.nextElementSibling;
    if (tr.hidden && next && next.classList.contains('panel')) next.remove();
  }
  for (const note of document.querySelectorAll('p.footnote')) note.hidden = !matches(s, note.dataset);  // with its row
  for (const sec of document.querySelectorAll('section.ptable')) {
    sec.hidden = !sec.querySelector('tbody tr:not(.panel):not([hidden])');
  }
  for (const group of document.querySelectorAll('section.scale-group')) {
    group.hidden = !group.querySelector('section.ptable:not([hidden])');
  }
  const points = [...document.querySelectorAll('#scatter circle.point')];
  let shown = 0;
  for (const p of points) {
    const ok = matches(s, {scale: p.dataset.scale, method: p.dataset.method, source: p.dataset.source, text: p.dataset.text});
    p.style.display = ok ? '' : 'none';
    shown += ok;
  }
  const filtering = s.scale || s.method || s.source || s.q;
  $('scatter-section').hidden = filtering ? shown === 0 : false;
  render(s);
}
for (const th of document.querySelectorAll('#long th')) {
  th.addEventListener('click', () => { sortAsc = sortCol === th.dataset.col ? !sortAsc : true;
    sortCol = th.dataset.col; render(state()); });
}
for (const tr of document.querySelectorAll('table.paper tr.has-panel')) tr.addEventListener('click', () => togglePanel(tr));
for (const id of ['scale', 'method', 'source']) $(id).addEventListener('change', applyFilters);
$('q').addEventListener('input', applyFilters);
const params = new URLSearchParams(location.search);  // index.html?scale=quick&method=pace&q=R3D&source=reproduced&open=1
for (const id of ['scale', 'method', 'source', 'q']) $(id).value = params.get(id) || '';
applyFilters();
if (params.get('open')) {  // open the first row every filter lets through, and bring it into view
  const first = [...document.querySelectorAll('tr.has-panel')].find(tr => !tr.closest('[hidden]'));
  if (first) { togglePanel(first); first.scrollIntoView({block: 'start'}); }
}
</script></body></html>
"""
