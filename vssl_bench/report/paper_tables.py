"""The leaderboard read the way the papers print it: one table per protocol, scale and dataset, rows
grouped by backbone, each row a model with its setup (backbone, pretraining data, frames x crop, pretraining
epochs, source); the paper's row and ours one above the other, ours with its seed spread and its
difference (Δ) from the paper, or at the quick scale from random init of the same backbone; and a
reproduced-vs-reported scatter plot.

Built from the long table of :func:`vssl_bench.report.tables.build_table` (one row per metric value), so every
number here is also a row there. Pure rendering: no file is read.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from vssl_bench import catalog
from vssl_bench.data.synthetic import SPEEDS
from vssl_bench.rerun import evaluate_command

# display names of the protocols (the records' ``protocol`` field, plus the retrieval records' probe)
PROTOCOL_TITLES = {
    "full-finetune": "Full fine-tuning",
    "linear-probe": "Linear probe (a trained linear layer on the frozen backbone)",
    "frozen-feature logistic probe": "Frozen-feature logistic probe (logistic regression on clip-averaged features)",
    "nn-retrieval": "Nearest-neighbour retrieval (test videos query the training videos)",
}
PROTOCOL_SHORT = {"full-finetune": "fine-tune", "linear-probe": "linear probe",
                  "frozen-feature logistic probe": "logistic probe", "nn-retrieval": "retrieval"}
SCALE_TITLES = {"paper": "Paper scale: the papers' numbers and our reproductions",
                "quick": "Quick scale: synthetic data, a pipeline check (not comparable to the papers)"}
DATASET_ORDER = ("UCF101", "HMDB51", "Synthetic")
DATASET_CLASSES = {"UCF101": 101, "HMDB51": 51, "Synthetic": len(SPEEDS)}
METRIC_ORDER = ("Top-1 Accuracy", "3-fold Accuracy", "R@1", "R@5", "R@10", "R@20", "R@50")
METRIC_SHORT = {"Top-1 Accuracy": "Top-1", "3-fold Accuracy": "3-fold"}
COLUMNS = ("Method", "Backbone", "Pretrained on", "Input", "Pretrain epochs", "Source")
SIGNS = {"up": "▲", "down": "▼", "within": "≈", "unknown": "?"}  # the markdown's stand-in for colour


def metric_key(metric: str) -> tuple[int, int, str]:
    """Papers' order: top-1, 3-fold, then R@k by k (numerically: R@5 before R@10)."""
    if metric.startswith("R@") and metric[2:].isdigit():
        return (1, int(metric[2:]), metric)
    return (0, METRIC_ORDER.index(metric) if metric in METRIC_ORDER else 99, metric)


def number(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def fmt(value: Any) -> str:
    """Every percentage with one decimal, as the papers print them (25.0, never 25)."""
    v = number(value)
    return "" if v is None else f"{v:.1f}"


def fmt_delta(value: Any) -> str:
    v = number(value)
    return "" if v is None else f"{v:+.1f}"


def chance(dataset: str, metric: str) -> float | None:
    """Chance level in % for balanced classes: top-1 = 1/C; R@k = P(one of k random neighbours shares the class)."""
    classes = DATASET_CLASSES.get(dataset)
    if not classes:
        return None
    if metric.startswith("R@"):
        return 100 * (1 - (1 - 1 / classes) ** int(metric[2:]))
    return 100 / classes


def judge(delta: float | None, std: Any, seeds: Any, other_std: Any = None, other_seeds: Any = None,
          against_paper: bool = True) -> str:
    """``up``/``down`` when Δ is beyond what the seeds spread, ``within`` when it is not, ``unknown``
    with one seed (no spread to judge by).

    Against a paper (one run, no spread of its own): beyond two standard errors of one more run beside
    our mean, ``2 * std * sqrt(1 + 1/n)``. Against random init of the same backbone (both sides over
    seeds): beyond the larger of the two seed standard deviations, the rule the quick tables state."""
    n, s = number(seeds) or 0, number(std)
    if delta is None:
        return ""
    if n < 2 or s is None:
        return "unknown"
    if against_paper:
        bound = 2 * s * math.sqrt(1 + 1 / n)
    else:
        m, t = number(other_seeds) or 0, number(other_std)
        if m < 2 or t is None:
            return "unknown"
        bound = max(s, t)
    if abs(delta) <= bound:
        return "within"
    return "up" if delta > 0 else "down"


@dataclass
class Cell:
    value: str = ""
    delta: str = ""
    judgement: str = ""
    title: str = ""


@dataclass
class Line:
    """One table row: the paper's number (``reported``), ours (``ours``) or a cell not run (``notrun``)."""

    kind: str
    model: str
    method: str
    method_name: str
    backbone: str
    backbone_name: str
    pretrain_name: str
    scale: str
    source: str
    input: str = ""
    epochs: str = ""
    references: list[tuple[str, str]] = field(default_factory=list)
    remark: str = ""
    seeds: int = 0
    cells: dict[str, Cell] = field(default_factory=dict)
    panel: str = ""
    recipe: str = ""
    command: str = ""
    group_start: bool = False


@dataclass
class Section:
    scale: str
    protocol: str
    dataset: str
    metrics: list[str]
    lines: list[Line]
    notes: list[str]
    against_paper: bool = False  # Δ against the paper (a table with reported rows), else against random init

    @property
    def title(self) -> str:
        return f"{PROTOCOL_TITLES.get(self.protocol, self.protocol)}: {self.dataset}"

    @property
    def anchor(self) -> str:
        return f"{self.scale}-{self.protocol}-{self.dataset}".lower().replace(" ", "-")


def _names() -> tuple[dict[str, str], dict[str, str], dict[str, str], tuple[str, ...]]:
    """Display names of methods, backbones and datasets, and the methods' order (from the catalog)."""
    methods = catalog.method_names()
    return methods, catalog.backbone_names(), catalog.dataset_names(), tuple(methods)


def _command(recipe: str, scale: str) -> str:
    return evaluate_command(recipe, scale, data_root="DATA" if scale == "paper" else None)


def _references(row: pd.Series) -> list[tuple[str, str]]:
    labels = [s for s in str(row.get("reference") or "").split(" + ") if s]
    urls = str(row.get("reference_url") or "").split()
    return [(label, urls[i] if i < len(urls) and urls[i] != "-" else "") for i, label in enumerate(labels)]


def section(part: pd.DataFrame, scale: str, protocol: str, dataset: str) -> Section:
    """The table of one (scale, protocol, dataset): reported and ours per model, grouped by backbone."""
    methods, backbones, data, method_order = _names()
    notes: list[str] = []
    metrics = sorted(set(part["Metric"]), key=metric_key)
    if scale == "quick":  # a metric every model reaches says nothing: leave it out, and say so
        ours = part[part["source"] != "reported"]
        for metric in list(metrics):
            values = [number(v) for v in ours[ours["Metric"] == metric]["Value"]]
            level = chance(dataset, metric)
            if (values and all(v is not None and v >= 99.5 for v in values)) or (level is not None and level >= 99):
                metrics.remove(metric)
                notes.append(f"{metric} left out: saturated ({fmt(max(v for v in values if v is not None))} "
                             f"for every row; chance {fmt(level)}).")
    order_b = {b: i for i, b in enumerate(backbones)}
    order_m = {m: i for i, m in enumerate(method_order)}
    models = part.drop_duplicates(["Model"])[["Model", "method", "backbone", "pretrain_data", "variant"]]
    models = models.assign(_b=models["backbone"].map(lambda b: order_b.get(b, 99)),
                           _m=models["method"].map(lambda m: order_m.get(m, 99)))
    lines: list[Line] = []
    previous_backbone = None
    against_paper = scale == "paper" and (part["source"] == "reported").any()
    for _, model in models.sort_values(["_b", "_m", "pretrain_data", "variant"]).iterrows():
        rows = part[part["Model"] == model["Model"]]
        first_of_group = model["backbone"] != previous_backbone
        previous_backbone = model["backbone"]
        common = dict(model=model["Model"], method=model["method"],
                      method_name=methods.get(model["method"], model["method"]), backbone=model["backbone"],
                      backbone_name=backbones.get(model["backbone"], model["backbone"]),
                      pretrain_name=data.get(model["pretrain_data"], model["pretrain_data"]), scale=scale)
        group: list[Line] = []
        for source, by_source in rows.groupby("source", sort=False):
            first = by_source.iloc[0]
            line = Line(kind="reported" if source == "reported" else "ours", source=source,
                        input=str(first.get("input") or ""), epochs=str(first.get("epochs") or ""),
                        references=_references(first), remark=str(first.get("remark") or ""),
                        seeds=int(number(first.get("seeds")) or 0), panel=str(first.get("panel") or ""),
                        recipe=str(first.get("recipe") or ""), **common)
            for _, r in by_source.iterrows():
                if r["Metric"] not in metrics:
                    continue
                line.cells[r["Metric"]] = _cell(r, source == "reported", against_paper)
            group.append(line)
        group.sort(key=lambda ln: ln.kind != "reported")
        has_ours = any(ln.kind == "ours" and ln.source == "reproduced" for ln in group)
        reported = next((ln for ln in group if ln.kind == "reported"), None)
        if reported is not None and not has_ours:
            command = _command(reported.recipe, scale) if reported.recipe else ""
            group.append(Line(kind="notrun", source="reproduced", input="", epochs="", recipe=reported.recipe,
                              command=command, panel=reported.panel, **common))
        group[0].group_start = first_of_group
        lines += group
    return Section(scale, protocol, dataset, metrics, lines, notes, against_paper)


def _cell(r: pd.Series, reported: bool, against_paper: bool) -> Cell:
    if reported:
        return Cell(value=fmt(r["Value"]), title=str(r.get("remark") or ""))
    spread, seeds = number(r.get("std")), int(number(r.get("seeds")) or 0)
    value = fmt(r["Value"]) + (f" ± {spread:.1f}" if spread is not None else "")
    if not against_paper:
        delta = number(r.get("delta_baseline"))
        judgement = judge(delta, r.get("std"), seeds, r.get("baseline_std"), r.get("baseline_seeds"),
                          against_paper=False)
        against = "random init of this backbone"
    else:
        delta = number(r.get("delta"))
        judgement = judge(delta, r.get("std"), seeds)
        against = "the paper"
    title = f"mean of {seeds} seed{'s' if seeds != 1 else ''}"
    if delta is not None:
        title += f"; Δ {fmt_delta(delta)} against {against} ({JUDGEMENTS[judgement]})"
    return Cell(value=value, delta=fmt_delta(delta), judgement=judgement, title=title)


JUDGEMENTS = {"up": "above, beyond the seed spread",
              "down": "below, beyond the seed spread",
              "within": "within the seed spread: not distinguishable",
              "unknown": "one seed: no spread to judge by", "": ""}


def sections(table: pd.DataFrame) -> list[Section]:
    """Every (scale, protocol, dataset) present, paper scale first, in the papers' order."""
    out = []
    for scale in ("paper", "quick"):
        for protocol in PROTOCOL_TITLES:
            for dataset in DATASET_ORDER:
                part = table[(table["scale"] == scale) & (table["protocol"] == protocol) & (table["Dataset"] == dataset)]
                if not part.empty:
                    out.append(section(part, scale, protocol, dataset))
    return out


def caption(sec: Section) -> str:
    """What a reader needs beside the numbers: chance, and what Δ is measured against."""
    parts = []
    levels = [(m, chance(sec.dataset, m)) for m in sec.metrics]
    levels = [(m, c) for m, c in levels if c is not None]
    if levels:
        parts.append("chance: " + ", ".join(f"{METRIC_SHORT.get(m, m)} {c:.1f}" for m, c in levels)
                     + f" ({DATASET_CLASSES[sec.dataset]} classes)")
    parts.append("Δ: ours minus the paper" if sec.against_paper
                 else "Δ: ours minus random init of the same backbone")
    return "; ".join(parts) + "." + "".join(f" {n}" for n in sec.notes)


# --- markdown ------------------------------------------------------------------------------------
def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _md_source(line: Line) -> str:
    if line.kind == "reported":
        refs = " + ".join(f"[{label}]({url})" if url else label for label, url in line.references)
        return refs + (f" ({line.remark})" if line.remark and len(line.remark) < 60 else " (†)" if line.remark else "")
    if line.kind == "notrun":
        return "ours"
    name = "ours" if line.source == "reproduced" else f"ours, {line.source}"
    return f"{name}, {line.seeds} seed{'s' if line.seeds != 1 else ''}" + (f" ({line.remark})" if line.remark else "")


def markdown(sec: Section) -> str:
    header = list(COLUMNS) + [METRIC_SHORT.get(m, m) for m in sec.metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    footnotes = []
    for ln in sec.lines:
        linked = ln.recipe and ln.kind != "notrun" and ln.method != "scratch"
        method = f"[{ln.method_name}](../{ln.recipe})" if linked else ln.method_name
        cells = [method, ln.backbone_name, ln.pretrain_name, _input(ln.input), ln.epochs, _md_source(ln)]
        if ln.kind == "notrun":  # the command in the source column keeps the metric columns narrow
            cells[5] = f"ours, not run: `{ln.command}`" if ln.command else "ours, not run (no recipe)"
            cells += [""] * len(sec.metrics)
        else:
            for m in sec.metrics:
                c = ln.cells.get(m)
                if c is None:
                    cells.append("")
                elif c.delta:
                    cells.append(f"{c.value} ({c.delta} {SIGNS[c.judgement]})")
                else:
                    cells.append(c.value)
        if ln.remark and ln.kind == "reported" and len(ln.remark) >= 60:
            footnotes.append(f"† {ln.model}: {ln.remark}")
        lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
    return "\n".join(lines) + "".join(f"\n\n{f}" for f in dict.fromkeys(footnotes))


def _input(spec: str) -> str:
    """``16x112`` -> ``16×112²`` (frames x square crop, as the papers write it)."""
    if "x" in spec:
        frames, side = spec.split("x", 1)
        return f"{frames}×{side}²"
    return spec


# --- HTML ----------------------------------------------------------------------------------------
def _html_source(line: Line) -> str:
    if line.kind == "reported":
        refs = " + ".join(f'<a href="{html.escape(url)}">{html.escape(label)}</a>' if url else html.escape(label)
                          for label, url in line.references)
        short = line.remark if len(line.remark) < 60 else "two readings, see †" if "two readings" in line.remark else "†"
        remark = (f' <span class="remark" title="{html.escape(line.remark)}">({html.escape(short)})</span>'
                  if line.remark else "")
        return refs + remark
    if line.kind == "notrun":
        return "ours"
    name = "ours" if line.source == "reproduced" else f"ours, {html.escape(line.source)}"
    remark = f' <span class="remark">({html.escape(line.remark)})</span>' if line.remark else ""
    return f"{name}, {line.seeds} seed{'s' if line.seeds != 1 else ''}{remark}"


def html_section(sec: Section) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS) + "".join(
        f'<th class="num">{html.escape(METRIC_SHORT.get(m, m))}</th>' for m in sec.metrics)
    body = []
    for ln in sec.lines:
        classes = [ln.kind] + (["group-start"] if ln.group_start else []) + (["has-panel"] if ln.panel else [])
        text = " ".join([ln.model, sec.dataset, PROTOCOL_SHORT.get(sec.protocol, ""), ln.source]).lower()
        attrs = (f'class="{" ".join(classes)}" data-scale="{ln.scale}" data-method="{html.escape(ln.method)}" '
                 f'data-source="{"not run" if ln.kind == "notrun" else html.escape(ln.source)}" data-panel="{html.escape(ln.panel)}" '
                 f'data-text="{html.escape(text)}" title="{html.escape(ln.model)}"')
        cells = [f"<td>{html.escape(ln.method_name)}</td>", f'<td class="nowrap">{html.escape(ln.backbone_name)}</td>',
                 f"<td>{html.escape(ln.pretrain_name)}</td>"]
        if ln.kind == "notrun":  # input, epochs, source and the metrics: one cell for the command
            run = (f'ours: not run: <code>{html.escape(ln.command)}</code>' if ln.command else "ours: not run (no recipe)")
            cells.append(f'<td class="notrun-cell" colspan="{3 + max(1, len(sec.metrics))}">{run}</td>')
        else:
            cells += [f'<td class="nowrap">{html.escape(_input(ln.input))}</td>', f"<td>{html.escape(ln.epochs)}</td>",
                      f'<td class="source">{_html_source(ln)}</td>']
            for m in sec.metrics:
                c = ln.cells.get(m)
                if c is None:
                    cells.append('<td class="num"></td>')
                    continue
                badge = (f'<br><span class="delta {c.judgement}">{html.escape(c.delta)}</span>' if c.delta else "")
                cells.append(f'<td class="num" title="{html.escape(c.title)}">{html.escape(c.value)}{badge}</td>')
        body.append(f"<tr {attrs}>{''.join(cells)}</tr>")
    notes = "".join(f'<p class="footnote" data-scale="{ln.scale}" data-method="{html.escape(ln.method)}" '
                    f'data-source="reported" data-text="{html.escape(ln.model.lower())}">'
                    f"† {html.escape(ln.model)}: {html.escape(ln.remark)}</p>"
                    for ln in sec.lines if ln.kind == "reported" and len(ln.remark) >= 60)
    return (f'<section class="ptable" id="{sec.anchor}" data-scale="{sec.scale}" data-protocol="{sec.protocol}">'
            f"<h3>{html.escape(sec.title)}</h3><p class=\"caption\">{html.escape(caption(sec))}</p>"
            f'<div class="scroll"><table class="paper"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>{notes}</section>")


LEGEND = ('<p class="legend">Δ: <span class="delta up">+2.0</span> ours above and <span class="delta down">'
          '-2.0</span> ours below, beyond the seed spread (against a paper: two standard errors of one more '
          'run beside our mean; against random init: the larger of the two seed standard deviations); '
          '<span class="delta within">+0.4</span> within it (not distinguishable); <span class="delta unknown">'
          '+1.0</span> one seed, no spread to judge by. Values are means over seeds ± their standard deviation. '
          "Click a row for its provenance.</p>")
MD_LEGEND = ("Δ in brackets: ▲ ours above, ▼ ours below, beyond the seed spread (against a paper: two standard "
             "errors of one more run beside our mean; against random init: the larger of the two seed standard "
             "deviations); ≈ within it (not distinguishable); ? one seed, no spread to judge by. Values are means over seeds ± their "
             "standard deviation.")


# --- scatter -------------------------------------------------------------------------------------
METHOD_COLOURS = {"rspnet": "#1f77b4", "pace": "#ff7f0e", "prp": "#2ca02c", "ascnet": "#d62728", "scratch": "#555"}


def scatter_svg(table: pd.DataFrame, size: int = 360) -> str:
    """Reproduced (y) against reported (x), one point per metric value that has both, coloured by
    method (legend), with ticks every 20 points and the diagonal: points on it reproduce the paper."""
    methods = _names()[0]
    pairs = table[(table["source"] != "reported") & pd.to_numeric(table["paper_value"], errors="coerce").notna()]
    pad, span = 44, size - 60
    top = 100.0

    def at(v: float) -> float:
        return pad + span * v / top

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="scatter" width="{size + 130}" height="{size}" '
             f'viewBox="0 0 {size + 130} {size}" role="img" aria-label="reproduced against reported, in %">',
             f'<rect x="{pad}" y="{size - pad - span}" width="{span}" height="{span}" fill="none" stroke="#999"/>']
    for tick in range(0, 101, 20):
        x, y = at(tick), size - at(tick)
        parts.append(f'<line class="tick" x1="{x:.1f}" y1="{size - pad}" x2="{x:.1f}" y2="{size - pad + 4}" stroke="#666"/>'
                     f'<text x="{x:.1f}" y="{size - pad + 15}" text-anchor="middle" font-size="10">{tick}</text>'
                     f'<line class="tick" x1="{pad - 4}" y1="{y:.1f}" x2="{pad}" y2="{y:.1f}" stroke="#666"/>'
                     f'<text x="{pad - 6}" y="{y + 3:.1f}" text-anchor="end" font-size="10">{tick}</text>')
    parts += [f'<line class="diagonal" x1="{pad}" y1="{size - pad}" x2="{pad + span}" y2="{size - pad - span}" '
              'stroke="#bbb" stroke-dasharray="4 3"/>',
              f'<text x="{pad + span / 2}" y="{size - 8}" text-anchor="middle" font-size="11">reported by the paper (%)</text>',
              f'<text x="12" y="{size / 2}" font-size="11" transform="rotate(-90 12 {size / 2})" '
              'text-anchor="middle">reproduced here (%)</text>']
    for _, r in pairs.iterrows():
        x, y = at(float(r["paper_value"])), size - at(float(r["Value"]))
        label = html.escape(f"{r['Model']} {r['Dataset']} {r['Metric']}: paper {float(r['paper_value']):.1f}, "
                            f"ours {float(r['Value']):.1f}")
        parts.append(f'<circle class="point" data-method="{html.escape(str(r["method"]))}" '
                     f'data-scale="{html.escape(str(r["scale"]))}" data-source="{html.escape(str(r["source"]))}" '
                     f'data-text="{html.escape(str(r["Model"]).lower())}" cx="{x:.1f}" cy="{y:.1f}" r="4" '
                     f'fill="{METHOD_COLOURS.get(r["method"], "#555")}"><title>{label}</title></circle>')
    for i, (method, colour) in enumerate(c for c in METHOD_COLOURS.items() if c[0] != "scratch"):
        y = 24 + 18 * i
        parts.append(f'<g class="legend-entry"><circle cx="{size + 10}" cy="{y}" r="4" fill="{colour}"/>'
                     f'<text x="{size + 20}" y="{y + 4}" font-size="11">{html.escape(methods.get(method, method))}</text></g>')
    if pairs.empty:
        parts.append(f'<text class="empty" x="{pad + span / 2}" y="{size / 2}" text-anchor="middle" font-size="11">'
                     "no reproduced number at the paper scale yet</text>")
    parts.append("</svg>")
    return "".join(parts)
