"""The leaderboard read the way the papers print it: one row per model, the metrics as columns, the
paper's number, ours and the difference side by side; and a reproduced-vs-reported scatter plot.

Built from the long table of :mod:`vssl_bench.bench.leaderboard` (one row per metric value), so every
number here is also a row there.
"""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd

# per task, the metric columns in the order the papers print them: (dataset, metric)
COLUMN_ORDER = {
    "Self-Supervised Action Recognition": [("UCF101", "Top-1 Accuracy"), ("UCF101", "3-fold Accuracy"),
                                           ("HMDB51", "Top-1 Accuracy"), ("Synthetic", "Top-1 Accuracy")],
    "Self-Supervised Action Recognition Linear": [("UCF101", "Top-1 Accuracy"), ("HMDB51", "Top-1 Accuracy"),
                                                  ("Synthetic", "Top-1 Accuracy")],
    "Self-supervised Video Retrieval": [(d, f"R@{k}") for d in ("UCF101", "HMDB51", "Synthetic")
                                        for k in (1, 5, 10, 20, 50)],
}
TASK_TITLES = {"Self-Supervised Action Recognition": "Action recognition (fine-tuned)",
               "Self-Supervised Action Recognition Linear": "Action recognition (linear probe, frozen)",
               "Self-supervised Video Retrieval": "Video retrieval (nearest neighbour)"}


def _number(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def paper_table(table: pd.DataFrame, task: str) -> pd.DataFrame:
    """One row per (model, scale); for each metric column present, ``paper``, ``ours`` (mean, with
    ``± std`` over seeds) and ``Δ`` (ours - paper). Rows without any number are dropped."""
    rows = table[table["Task"] == task]
    present = {(d, m) for d, m in zip(rows["Dataset"], rows["Metric"])}
    columns = [c for c in COLUMN_ORDER.get(task, []) if c in present]
    columns += sorted(present - set(columns))
    out = []
    for (model, scale), group in rows.groupby(["Model", "scale"], sort=True):
        line: dict[str, Any] = {"Model": model, "scale": scale,
                                "method": group["method"].iloc[0], "pretrain_data": group["pretrain_data"].iloc[0]}
        for dataset, metric in columns:
            cell = group[(group["Dataset"] == dataset) & (group["Metric"] == metric)]
            reported = cell[cell["source"] == "reported"]
            ours = cell[cell["source"] != "reported"]
            name = f"{dataset} {metric}"
            paper = _number(reported["Value"].iloc[0]) if len(reported) else None
            mine = _number(ours["Value"].iloc[0]) if len(ours) else None
            spread = _number(ours["std"].iloc[0]) if len(ours) else None
            line[f"{name}: paper"] = paper
            line[f"{name}: ours"] = mine
            line[f"{name}: ours std"] = spread
            line[f"{name}: Δ"] = round(mine - paper, 2) if mine is not None and paper is not None else None
        out.append(line)
    return pd.DataFrame(out)


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """``"UCF101 Top-1 Accuracy"``-style names, in column order."""
    names: list[str] = []
    for col in frame.columns:
        if col.endswith(": paper"):
            names.append(col[: -len(": paper")])
    return names


def _fmt(value: Any, spread: Any = None) -> str:
    v = _number(value)
    if v is None:
        return ""
    s = _number(spread)
    return f"{v:g} ± {s:g}" if s is not None else f"{v:g}"


def _delta(value: Any) -> str:
    v = _number(value)
    return "" if v is None else f"{v:+g}"


def parts(frame: pd.DataFrame, name: str) -> tuple[str, ...]:
    """``paper``, ``ours``, ``Δ`` for a metric, or only ``ours`` where no row has a paper number."""
    has_paper = frame[f"{name}: paper"].map(_number).notna().any()
    return ("paper", "ours", "Δ") if has_paper else ("ours",)


def _cell(row: pd.Series, name: str, part: str) -> str:
    if part == "paper":
        return _fmt(row[f"{name}: paper"])
    if part == "ours":
        return _fmt(row[f"{name}: ours"], row[f"{name}: ours std"])
    return _delta(row[f"{name}: Δ"])


def markdown(frame: pd.DataFrame) -> str:
    names = metric_columns(frame)
    header = ["Model"] + [f"{n} ({part})" for n in names for part in parts(frame, n)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in frame.iterrows():
        cells = [str(row["Model"])] + [_cell(row, n, part) for n in names for part in parts(frame, n)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def _delta_class(value: Any) -> str:
    v = _number(value)
    if v is None:
        return ""
    size = "small" if abs(v) < 1 else "medium" if abs(v) < 5 else "large"
    return f' class="delta {size} {"neg" if v < 0 else "pos"}"'


SCALE_TITLES = {"paper": "paper scale", "quick": "quick scale: synthetic data, not comparable to the papers"}


def sections(table: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """``(title, task, paper_table)`` per task and scale present, paper scale first."""
    out = []
    for task in COLUMN_ORDER:
        for scale in ("paper", "quick"):
            part = table[(table["Task"] == task) & (table["scale"] == scale)]
            if not part.empty:
                out.append((f"{TASK_TITLES[task]}, {SCALE_TITLES[scale]}", task, paper_table(part, task)))
    return out


def html_table(frame: pd.DataFrame, task: str, title: str | None = None) -> str:
    """A static table: two header rows (metric, then paper / ours / Δ), Δ cells coloured by size."""
    names = metric_columns(frame)
    top = '<th rowspan="2">Model</th>' + "".join(
        f'<th colspan="{len(parts(frame, n))}">{html.escape(n)}</th>' for n in names)
    sub = "".join(f"<th>{part}</th>" for n in names for part in parts(frame, n))
    body = []
    for _, row in frame.iterrows():
        cells = [f"<td>{html.escape(str(row['Model']))}</td>"]
        for n in names:
            for part in parts(frame, n):
                attr = _delta_class(row[f"{n}: Δ"]) if part == "Δ" else ""
                cells.append(f"<td{attr}>{_cell(row, n, part)}</td>")
        body.append(f'<tr data-scale="{html.escape(str(row["scale"]))}" data-method="{html.escape(str(row["method"]))}">'
                    + "".join(cells) + "</tr>")
    title = html.escape(title or TASK_TITLES.get(task, task))
    return (f'<h3>{title}</h3><table class="paper" data-task="{html.escape(task)}"><thead><tr>{top}</tr>'
            f"<tr>{sub}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def scatter_svg(table: pd.DataFrame, size: int = 320) -> str:
    """Reproduced (y) against reported (x), one point per metric value that has both, coloured by
    method, with the diagonal: points on it reproduce the paper."""
    pairs = table[(table["source"] != "reported") & table["paper_value"].notna()]
    pairs = pairs[pd.to_numeric(pairs["paper_value"], errors="coerce").notna()]
    colours = {"rspnet": "#1f77b4", "pace": "#ff7f0e", "prp": "#2ca02c", "ascnet": "#d62728"}
    pad, span = 30, size - 40
    top = max([100.0] + [float(v) for v in pairs["Value"]] + [float(v) for v in pairs["paper_value"]])

    def at(v: float) -> float:
        return pad + span * v / top

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="scatter" width="{size}" height="{size}" '
             f'viewBox="0 0 {size} {size}" role="img" aria-label="reproduced against reported">',
             f'<rect x="{pad}" y="{size - pad - span}" width="{span}" height="{span}" fill="none" stroke="#999"/>',
             f'<line class="diagonal" x1="{pad}" y1="{size - pad}" x2="{pad + span}" y2="{size - pad - span}" '
             'stroke="#bbb" stroke-dasharray="4 3"/>',
             f'<text x="{pad + span / 2}" y="{size - 6}" text-anchor="middle" font-size="11">reported</text>',
             f'<text x="10" y="{size / 2}" font-size="11" transform="rotate(-90 10 {size / 2})" '
             'text-anchor="middle">reproduced</text>']
    for _, r in pairs.iterrows():
        x, y = at(float(r["paper_value"])), size - at(float(r["Value"]))
        label = html.escape(f"{r['Model']} {r['Dataset']} {r['Metric']}: paper {float(r['paper_value']):g}, "
                            f"ours {float(r['Value']):g}")
        parts.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="4" '
                     f'fill="{colours.get(r["method"], "#555")}"><title>{label}</title></circle>')
    if pairs.empty:
        parts.append(f'<text class="empty" x="{size / 2}" y="{size / 2}" text-anchor="middle" font-size="11">'
                     "no reproduced number at the paper scale yet</text>")
    parts.append("</svg>")
    return "".join(parts)
