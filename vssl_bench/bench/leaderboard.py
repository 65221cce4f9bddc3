"""The leaderboard: the papers' reported rows beside reproduced run records, in Papers-With-Code form.

Writes into ``results/``: ``leaderboard.csv`` and ``leaderboard.md`` (``Task | Dataset | Metric | Value |
Model`` plus backbone, pretraining data, source, scale and the difference from the paper where both
exist), ``leaderboard.json`` (the sota-extractor evaluation-tables schema: tasks -> datasets -> sota ->
rows) and ``index.html`` (one self-contained page, sortable and filterable, no network).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from vssl_bench.bench import paper_tables, record_panels
from vssl_bench.bench.model_index import write_model_index
from vssl_bench.bench.records import load_records

TASK_FT = "Self-Supervised Action Recognition"
TASK_RETRIEVAL = "Self-supervised Video Retrieval"
TASK_LINEAR = "Self-Supervised Action Recognition Linear"
METHOD_NAMES = {"rspnet": "RSPNet", "pace": "Pace", "prp": "PRP", "ascnet": "ASCNet", "scratch": "Random init"}
BACKBONE_NAMES = {"c3d": "C3D", "r3d10": "R3D-10", "r21d10": "R(2+1)D-10", "r3d18": "3D-ResNet-18", "s3dg": "S3D-G"}
DATA_NAMES = {"kinetics400": "K400", "ucf101": "UCF101", "hmdb51": "HMDB51", "synthetic": "Synthetic", "none": "none"}
COLUMNS = ["Task", "Dataset", "Metric", "Value", "std", "seeds", "Model", "method", "backbone", "pretrain_data", "source",
           "scale", "paper_value", "delta", "paper_title", "paper_url", "paper_date", "code_url", "note"]


VARIANT_NAMES = {"1000ep": "1000 epochs"}


def model_name(method: str, backbone: str, pretrain: str, variant: str = "") -> str:
    """Papers-With-Code style: ``RSPNet (S3D-G, K400)``, ``RSPNet (S3D-G, K400, 1000 epochs)``."""
    parts = [BACKBONE_NAMES.get(backbone, backbone), DATA_NAMES.get(pretrain, pretrain)]
    if variant:
        parts.append(VARIANT_NAMES.get(variant, variant))
    return f"{METHOD_NAMES.get(method, method)} ({', '.join(parts)})"


def reported_rows(path: Path) -> list[dict[str, Any]]:
    spec = yaml.safe_load(path.read_text())
    papers = spec["papers"]
    rows = []

    def base(method: str, backbone: str, pretrain: str, dataset: str, source: str, variant: str = "") -> dict[str, Any]:
        paper = papers[method]
        return {"Dataset": DATA_NAMES[dataset], "Model": model_name(method, backbone, pretrain, variant),
                "method": method, "backbone": backbone, "pretrain_data": pretrain, "variant": variant,
                "source": "reported", "scale": "paper", "paper_title": paper["title"], "paper_url": paper["url"],
                "paper_date": paper["date"], "code_url": paper["code"], "note": str(source)}

    for method, backbone, pretrain, dataset, top1, _size, source in spec["finetune"]:
        rows.append({**base(method, backbone, pretrain, dataset, source), "Task": TASK_FT, "Metric": "Top-1 Accuracy",
                     "Value": float(top1)})
    for method, backbone, pretrain, dataset, values, source in spec["retrieval"]:
        for k, value in zip((1, 5, 10, 20, 50), values):
            rows.append({**base(method, backbone, pretrain, dataset, source), "Task": TASK_RETRIEVAL,
                         "Metric": f"R@{k}", "Value": float(value)})
    for row in spec.get("headline", []):  # rows named exactly as Papers-With-Code lists them
        rows.append({**base(row["method"], row["backbone"], row["pretrain"], row["dataset"], row["source"],
                            row.get("variant", "")), "Task": TASK_FT, "Metric": row["metric"],
                     "Value": float(row["value"])})
    return rows


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


def selection_note(metrics: dict[str, Any]) -> str:
    """Which fine-tuning epoch the number is from, and the last epoch's number when they differ."""
    select = metrics.get("select", "last")
    if select == "last" or "top1_last" not in metrics:
        return ""
    return f"; {select} epoch {metrics.get('selected_epoch')} (last epoch: {metrics['top1_last']:.2f})"


def reproduced_rows(records: list[dict[str, Any]], work: Path | None = None) -> list[dict[str, Any]]:
    """One row per metric of every ok stage record, averaged over seeds; each row keeps its record's
    panel (``details``: facts, re-run command, curves from the logs under ``work``)."""
    rows = []
    pretrained = {r.get("cell"): r for r in records if r.get("stage") == "pretrain" and r.get("status") == "ok"}
    for r in records:
        if r.get("status") != "ok" or r.get("stage", "").startswith("pretrain"):
            continue
        pretrain = r.get("pretrain_data", "none")
        common = {"details": record_panels.details(r, work or Path("work")),"Dataset": DATA_NAMES.get(r["dataset"], r["dataset"]), "method": r["method"],
                  "backbone": r["backbone"], "pretrain_data": pretrain,
                  "Model": model_name(r["method"], r["backbone"], pretrain, r.get("variant", "")),
                  "variant": r.get("variant", ""), "source": r.get("source", "reproduced"),
                  "scale": r.get("scale", ""), "paper_title": "", "paper_url": "", "paper_date": "", "code_url": "",
                  "note": f"{r.get('protocol') or ''} {r.get('device', '')}, {r.get('wall_s', 0):.0f}s".strip()
                  + skipped_note(r, pretrained.get(r.get("cell")))
                  + ("; extrapolated: no paper recipe for this cell" if r.get("extrapolated") else ""),
                  "paper_pretrain_data": r.get("paper_pretrain_data", pretrain), "cell": r.get("cell", ""),
                  "seed": r.get("seed", 0), "recipe": r.get("recipe", "")}
        metrics = r.get("metrics", {})
        if r["stage"].startswith("finetune"):
            if r.get("split", 1) == 1:  # the papers' number; splits 2 and 3 only enter the 3-fold mean
                rows.append({**common, "Task": TASK_FT, "Metric": "Top-1 Accuracy", "Value": round(metrics["top1"], 2),
                             "note": common["note"] + selection_note(metrics)})
        elif r["stage"].startswith("retrieval"):
            for k in (1, 5, 10, 20, 50):
                if f"R@{k}" in metrics:
                    rows.append({**common, "Task": TASK_RETRIEVAL, "Metric": f"R@{k}", "Value": round(metrics[f"R@{k}"], 2)})
            if "probe_top1" in metrics:  # logistic regression on the same frozen features
                rows.append({**common, "Task": TASK_LINEAR, "Metric": "Top-1 Accuracy",
                             "Value": round(metrics["probe_top1"], 2)})
    return over_seeds(rows + three_fold_rows(rows_by_split(records), rows))


SAME_ROW = ["Task", "Dataset", "Metric", "Model", "method", "backbone", "pretrain_data", "variant", "source", "scale"]


def over_seeds(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per model, scale and metric: ``Value`` is the mean over the seeds that ran it, ``std``
    their sample standard deviation (empty for one seed), ``seeds`` how many; the note is seed 0's."""
    if not rows:
        return rows
    frame = pd.DataFrame(rows)
    frame["variant"] = frame["variant"].fillna("")
    out = []
    for _, group in frame.groupby(SAME_ROW, sort=False, dropna=False):
        row = group.sort_values("seed").iloc[0].to_dict()
        values = group["Value"].astype(float)
        row.update(Value=round(values.mean(), 2), seeds=len(values),
                   std=round(values.std(ddof=1), 2) if len(values) > 1 else float("nan"))
        if isinstance(row.get("details"), dict):
            row["details"] = {**row["details"], "values_by_seed": dict(zip(group["seed"].astype(int).tolist(),
                                                                           values.round(2).tolist()))}
        out.append(row)
    return out


def rows_by_split(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[int, float]]:
    """Fine-tuning top-1 per (cell, dataset, scale) and split, from the ok records."""
    out: dict[tuple[str, str, str], dict[int, float]] = {}
    for r in records:
        if r.get("status") == "ok" and r.get("stage", "").startswith("finetune"):
            key = (r["cell"], r["dataset"], r.get("scale", ""))
            out.setdefault(key, {})[int(r.get("split", 1))] = float(r["metrics"]["top1"])
    return out


def three_fold_rows(by_split: dict[tuple[str, str, str], dict[int, float]],
                    rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A ``3-fold Accuracy`` row (the mean over splits 1-3) where all three splits finished."""
    out = []
    for (cell, dataset, scale), splits in by_split.items():
        if set(splits) != {1, 2, 3}:
            continue
        split1 = next((row for row in rows if row["Task"] == TASK_FT and row["Metric"] == "Top-1 Accuracy"
                       and row["cell"] == cell and row["Dataset"] == DATA_NAMES.get(dataset, dataset)
                       and row["scale"] == scale), None)
        if split1 is not None:
            out.append({**split1, "Metric": "3-fold Accuracy", "Value": round(sum(splits.values()) / 3, 2)})
    return out


def build_table(reported: list[dict[str, Any]], reproduced: list[dict[str, Any]]) -> pd.DataFrame:
    rep = pd.DataFrame(reported)
    table = pd.concat([rep, pd.DataFrame(reproduced)], ignore_index=True)
    if table.empty:
        return pd.DataFrame(columns=COLUMNS)
    key = ["Task", "Dataset", "Metric", "method", "backbone", "pretrain_data", "variant"]
    for frame in (rep, table):
        if not frame.empty:
            frame["variant"] = frame["variant"].fillna("") if "variant" in frame else ""
    paper = rep[key + ["Value"]].rename(columns={"Value": "paper_value"}) if not rep.empty else None
    if paper is not None:
        table = table.merge(paper, on=key, how="left")
        reproduced_mask = table["source"] != "reported"
        table.loc[~reproduced_mask, "paper_value"] = float("nan")
        table["delta"] = (table["Value"] - table["paper_value"]).round(2)
    for col in COLUMNS:
        if col not in table:
            table[col] = ""
    return table[COLUMNS].sort_values(["Task", "Dataset", "Metric", "source", "Value"],
                                      ascending=[True, True, True, True, False]).reset_index(drop=True)


def evaluation_tables(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The sota-extractor TaskDB v01 JSON: a list of tasks, each with datasets and their sota rows."""
    tasks = []
    for task, by_task in table.groupby("Task", sort=True):
        datasets = []
        for dataset, by_data in by_task.groupby("Dataset", sort=True):
            metrics = sorted(by_data["Metric"].unique(), key=_metric_order)
            rows = []
            for (model, source, scale), group in by_data.groupby(["Model", "source", "scale"], sort=False):
                first = group.iloc[0]
                name = model if source == "reported" else f"{model} [{source}, {scale}]"
                rows.append({
                    "model_name": name,
                    "paper_title": first["paper_title"] or "",
                    "paper_url": first["paper_url"] or "",
                    "paper_date": first["paper_date"] or None,
                    "code_links": [{"title": first["code_url"].split("github.com/")[-1], "url": first["code_url"]}]
                    if first["code_url"] else [],
                    "model_links": [],
                    "metrics": {m: f"{v:g}" for m, v in zip(group["Metric"], group["Value"])},
                    "uses_additional_data": False,
                })
            datasets.append({"dataset": dataset, "description": "", "subdatasets": [], "dataset_links": [],
                             "dataset_citations": [], "sota": {"metrics": metrics, "rows": rows}})
        tasks.append({"task": task, "description": "", "categories": ["Computer Vision"], "datasets": datasets,
                      "subtasks": [], "synonyms": [], "source_link": None})
    return tasks


def _metric_order(metric: str) -> tuple[int, str]:
    return (int(metric[2:]), metric) if metric.startswith("R@") else (0, metric)


# the papers' numbers, kept with the project; a results folder may carry its own copy instead
REPORTED = Path(__file__).resolve().parents[2] / "results" / "reported.yaml"


def write_leaderboard(results: str | Path = "results") -> dict[str, Path]:
    """Write the tables into ``results`` from its run records (``runs/``) and the reported rows
    (``results/reported.yaml`` if that folder has one, else the project's)."""
    results = Path(results)
    results.mkdir(parents=True, exist_ok=True)
    reported = results / "reported.yaml" if (results / "reported.yaml").is_file() else REPORTED
    reproduced = reproduced_rows(load_records(results / "runs"), results / "work")
    table = build_table(reported_rows(reported), reproduced)
    recipes = {(r["Model"], r["scale"]): r.get("recipe", "") for r in reproduced}
    out = {"csv": results / "leaderboard.csv", "md": results / "leaderboard.md", "json": results / "leaderboard.json",
           "html": results / "index.html", "model_index": results / "model-index.yml"}
    table.to_csv(out["csv"], index=False)
    shown = ["Task", "Dataset", "Metric", "Value", "std", "seeds", "Model", "pretrain_data", "source", "scale",
             "paper_value", "delta"]
    views = paper_tables.sections(table)
    out["md"].write_text(
        "# vssl-bench leaderboard\n\nReported = the paper's number; reproduced = a run record of this suite (scale "
        "`quick` runs on the synthetic dataset and is not comparable to the papers); a reproduced value is the mean "
        "over its seeds (`± std` where there are several).\n\n## Paper-style tables\n\n"
        + "".join(f"### {title}\n\n{paper_tables.markdown(frame)}\n\n" for title, _, frame in views)
        + "## Every row\n\n" + markdown_table(table[shown]) + "\n")
    out["json"].write_text(json.dumps(evaluation_tables(table), indent=2))
    panels = {row_key(r): r["details"] for r in reproduced if isinstance(r.get("details"), dict)}
    out["html"].write_text(render_html(table, views, panels))
    with_recipe = table.assign(recipe=[recipes.get((m, s), "") for m, s in zip(table["Model"], table["scale"])])
    write_model_index(out["model_index"], with_recipe, yaml.safe_load(reported.read_text())["papers"], METHOD_NAMES)
    return out


def markdown_table(frame: pd.DataFrame) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "" if pd.isna(v) else f"{v:g}"
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def row_key(row: Any) -> str:
    return "|".join(str(row[k]) for k in ("Task", "Dataset", "Metric", "Model", "scale", "source"))


def render_html(table: pd.DataFrame, views: list[tuple[str, str, pd.DataFrame]] | None = None,
                panels: dict[str, dict[str, Any]] | None = None) -> str:
    shown = ["Task", "Dataset", "Metric", "Value", "std", "seeds", "Model", "pretrain_data", "source", "scale",
             "paper_value", "delta"]
    frame = table[shown].copy()
    frame["seeds"] = frame["seeds"].map(lambda v: "" if pd.isna(v) or v == "" else str(int(v)))
    records = frame.fillna("").astype(str).to_dict(orient="records")
    details = []
    for record, (_, row) in zip(records, table.iterrows()):
        panel = (panels or {}).get(row_key(row))
        record["_panel"] = len(details) if panel is not None else ""
        if panel is not None:
            details.append(panel)
    data = json.dumps(records)
    header = "".join(f'<th data-col="{html.escape(c)}">{html.escape(c)}</th>' for c in shown)
    views = paper_tables.sections(table) if views is None else views
    papers = "".join(paper_tables.html_table(frame, task, title) for title, task, frame in views)
    return (_PAGE.replace("__HEADER__", header).replace("__PAPER_TABLES__", papers)
            .replace("__SCATTER__", paper_tables.scatter_svg(table)).replace("__DATA__", data.replace("</", "<\\/"))
            .replace("__PANELS__", json.dumps(details).replace("</", "<\\/")))


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vssl-bench leaderboard</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left}
th{cursor:pointer;background:#f4f4f4;position:sticky;top:0}
tr.reported td{color:#555}
tr.reproduced td{background:#f2f8ff}
input,select{margin-right:.6rem;padding:.2rem}
table.paper{width:auto;margin-bottom:1.2rem}
table.paper th{cursor:default;text-align:center}
td.delta.small{background:#eef7ee}td.delta.medium{background:#fff4d6}td.delta.large{background:#fbdcdc}
tr.has-panel{cursor:pointer}tr.panel td{background:#fafafa}
.panel dl{display:grid;grid-template-columns:max-content auto;gap:.1rem .8rem;margin:.3rem 0}
.panel dt{color:#666}.panel code{background:#eee;padding:.1rem .3rem}
.curve{display:inline-block;margin:.3rem 1rem .3rem 0;font-size:.8rem}
</style></head><body>
<h1>vssl-bench leaderboard</h1>
<p>Reported rows are the papers' numbers; reproduced rows come from this suite's run records.
Rows at scale <code>quick</code> ran on the synthetic dataset: a pipeline check, not comparable to the papers.
A reproduced value is the mean over its seeds, with &plusmn; the standard deviation where there are several.</p>
<h2>Paper-style tables</h2>
<div><select id="scale"><option value="">all scales</option><option>paper</option><option>quick</option></select>
<select id="method"><option value="">all papers</option><option value="rspnet">RSPNet</option><option value="pace">Pace</option>
<option value="prp">PRP</option><option value="ascnet">ASCNet</option><option value="scratch">random init</option></select></div>
<div id="papers">__PAPER_TABLES__</div>
<h2>Reproduced against reported</h2>
<figure>__SCATTER__<figcaption>One point per metric with both numbers; on the dashed diagonal, ours equals the paper's.</figcaption></figure>
<h2>Every row</h2>
<div><input id="q" placeholder="filter (model, dataset, ...)" size="40">
<select id="source"><option value="">all sources</option><option>reported</option><option>reproduced</option></select>
<span id="count"></span></div>
<p>Click a reproduced row for its record: recipe, seeds, versions, device, duration, skipped videos,
the command that re-runs it, and its training curves.</p>
<table id="long"><thead><tr>__HEADER__</tr></thead><tbody id="rows"></tbody></table>
<script>
const DATA = __DATA__;
const PANELS = __PANELS__;
function curveSvg(label, values) {  // a small line chart of per-epoch values, our own inline SVG
  const w = 220, h = 70, lo = Math.min(...values), hi = Math.max(...values), span = (hi - lo) || 1;
  const pts = values.map((v, i) => `${(10 + i * (w - 20) / Math.max(1, values.length - 1)).toFixed(1)},` +
    `${(h - 10 - (v - lo) * (h - 20) / span).toFixed(1)}`).join(' ');
  return `<div class="curve">${label} (${values.length} epochs: ${lo.toPrecision(3)} to ${hi.toPrecision(3)})<br>` +
    `<svg class="curve-plot" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}"><rect x="0" y="0" width="${w}" ` +
    `height="${h}" fill="#fff" stroke="#ddd"/><polyline fill="none" stroke="#1f77b4" stroke-width="1.5" ` +
    `points="${pts}"/></svg></div>`;
}
function panelHtml(p) {
  const esc = s => String(s).replace(/[&<>"]/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]));
  const facts = [['record', p.record], ['recipe', p.recipe], ['scale', p.scale],
    ['values by seed', JSON.stringify(p.values_by_seed || {})], ['device', p.device],
    ['duration (s)', p.duration_s], ['started', p.started], ['versions', JSON.stringify(p.versions)],
    ['skipped videos', JSON.stringify(p.skipped_videos)]];
  const curves = Object.entries(p.curves || {}).map(([k, v]) => curveSvg(esc(k), v)).join('');
  return '<dl>' + facts.map(([k, v]) => `<dt>${k}</dt><dd>${esc(v)}</dd>`).join('') +
    `<dt>re-run</dt><dd><code>${esc(p.command)}</code></dd></dl>` + (curves || '<em>no training logs here</em>');
}
function togglePanel(tr, r) {
  const next = tr.nextElementSibling;
  if (next && next.classList.contains('panel')) { next.remove(); return; }
  const row = document.createElement('tr');
  row.className = 'panel';
  const td = document.createElement('td');
  td.colSpan = document.querySelectorAll('#long th').length;
  td.innerHTML = panelHtml(PANELS[r._panel]);
  row.appendChild(td);
  tr.after(row);
}
let sortCol = null, sortAsc = true;
function render() {
  const q = document.getElementById('q').value.toLowerCase();
  const src = document.getElementById('source').value;
  let rows = DATA.filter(r => (!src || r.source === src) &&
    (!q || Object.values(r).join(' ').toLowerCase().includes(q)));
  if (sortCol) {
    rows.sort((a, b) => {
      const x = parseFloat(a[sortCol]), y = parseFloat(b[sortCol]);
      const c = (!isNaN(x) && !isNaN(y)) ? x - y : String(a[sortCol]).localeCompare(String(b[sortCol]));
      return sortAsc ? c : -c;
    });
  }
  const body = document.getElementById('rows');
  body.innerHTML = '';
  for (const r of rows) {
    const tr = document.createElement('tr');
    tr.className = r.source;
    if (r._panel !== '') {
      tr.classList.add('has-panel');
      tr.addEventListener('click', () => togglePanel(tr, r));
    }
    for (const th of document.querySelectorAll('#long th')) {
      const td = document.createElement('td');
      td.textContent = r[th.dataset.col];
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  document.getElementById('count').textContent = rows.length + ' of ' + DATA.length + ' rows';
}
for (const th of document.querySelectorAll('#long th')) {
  th.addEventListener('click', () => { sortAsc = sortCol === th.dataset.col ? !sortAsc : true;
    sortCol = th.dataset.col; render(); });
}
document.getElementById('q').addEventListener('input', render);
document.getElementById('source').addEventListener('change', render);
const params = new URLSearchParams(location.search);  // index.html?q=RSPNet&source=reproduced&open=1
document.getElementById('q').value = params.get('q') || '';
document.getElementById('source').value = params.get('source') || '';
function filterPapers() {  // the paper-style tables: by scale and by paper
  const scale = document.getElementById('scale').value, method = document.getElementById('method').value;
  for (const tr of document.querySelectorAll('table.paper tbody tr')) {
    tr.hidden = (scale && tr.dataset.scale !== scale) || (method && tr.dataset.method !== method);
  }
}
document.getElementById('scale').addEventListener('change', filterPapers);
document.getElementById('method').addEventListener('change', filterPapers);
document.getElementById('scale').value = params.get('scale') || '';
document.getElementById('method').value = params.get('method') || '';
filterPapers();
render();
if (params.get('open')) {  // open the panel of the first reproduced row (linkable, and testable)
  const first = document.querySelector('#long tr.has-panel');
  if (first) first.click();
}
</script></body></html>
"""
