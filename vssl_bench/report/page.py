"""``index.html``: one self-contained page (no network) with the paper-style tables, the scatter of ours
against the papers', every row, one filter state for all of them, and a provenance panel per row."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pandas as pd

from vssl_bench import catalog
from vssl_bench.report import paper_tables, record_panels
from vssl_bench.report.tables import (
    LONG_COLUMNS,
    PRETEXT_COLUMNS,
    PRETEXT_INTRO,
    long_rows,
    papers_line,
    pretext_cells,
)


def pretext_html(rows: list[dict[str, Any]], scale: str) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in PRETEXT_COLUMNS)
    body = "".join(
        f'<tr class="ours" data-scale="{html.escape(r["scale"])}" data-method="{html.escape(r["method"])}" '
        f'data-source="reproduced" data-text="{html.escape(" ".join(pretext_cells(r)[:3]).lower())}">'
        + "".join(f"<td>{html.escape(c)}</td>" for c in pretext_cells(r)) + "</tr>" for r in rows)
    return (f'<section class="ptable" id="{scale}-pretext" data-scale="{scale}"><h3>Pretext accuracy</h3>'
            f'<p class="caption">{html.escape(PRETEXT_INTRO)}</p><div class="scroll"><table class="paper pretext">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div></section>")



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
