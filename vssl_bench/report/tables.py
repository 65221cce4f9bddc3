"""The tables: every row in one frame (``leaderboard.csv``) and ``leaderboard.md`` (the paper-style
tables, one per protocol, scale and dataset, the pretext accuracies, then every row), with the context
lines both the markdown and the page print."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from vssl_bench import catalog
from vssl_bench.records import kind_and_protocol
from vssl_bench.report import paper_tables, record_panels
from vssl_bench.report.rows import TASK_FT, TASK_LINEAR, TASK_RETRIEVAL

COLUMNS = ["Task", "Dataset", "Metric", "Value", "std", "seeds", "Model", "method", "backbone", "pretrain_data",
           "variant", "source", "scale", "protocol", "input", "epochs", "reference", "reference_url", "remark",
           "paper_value", "delta", "baseline_value", "baseline_std", "baseline_seeds", "delta_baseline",
           "paper_title", "paper_url", "paper_date", "code_url", "note", "recipe", "export", "panel"]



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
                 "acc/avid": "instance discrimination (A-VID)", "acc/appearance_match": "appearance match",
                 "acc/speed_match": "speed match"}


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


def pretext_cells(row: dict[str, Any]) -> list[str]:
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
        [dict(zip(PRETEXT_COLUMNS, pretext_cells(r))) for r in rows], PRETEXT_COLUMNS) + "\n"



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

