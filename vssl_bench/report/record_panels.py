"""What stands behind a leaderboard row, as the HTML panel a click opens.

A reproduced row (the mean over its seeds) opens its records: recipe, weights, per-seed values and
durations (pretraining and this stage), versions, device, skipped videos, the command that re-runs it,
and the training curves of every seed read from the run's CSV logs
(``work/<cell>/<stage>/logs/version_*/metrics.csv``), drawn with axes, units and the chance line.
A reported row opens its provenance: the paper, the sources (linked), the setup and the remark, the
recipe and the command that would reproduce it.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import pandas as pd

from vssl_bench.rerun import evaluate_command

# per stage kind: the per-epoch curves worth drawing, (column in metrics.csv, label)
CURVES = {
    "pretrain": [("train/epoch_loss", "pretext loss"), ("train/acc/*", "pretext accuracy"), ("val/loss", "held-out loss")],
    "finetune": [("train/top1", "fine-tuning train top-1"), ("val/top1", "validation top-1"), ("val/loss", "validation loss")],
}
SEED_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
REPO = Path(__file__).resolve().parents[2]


def recipe_path(record: dict[str, Any]) -> str:
    """The record's recipe relative to the project (records of commands given an absolute path hold one)."""
    recipe = str(record.get("recipe") or "")
    try:
        return str(Path(recipe).resolve().relative_to(REPO)) if Path(recipe).is_absolute() else recipe
    except ValueError:
        return recipe


def stage_epochs(record: dict[str, Any] | None) -> int | None:
    """The epochs a stage trained: ``--trainer.max-epochs`` of the command it ran with (it overrides
    every stage's), else its config's (``trainer.max_epochs`` for pretraining, the dataset's ``epochs``
    for fine-tuning)."""
    if not record:
        return None
    if isinstance(record.get("epochs"), int):  # records state it since the typed recipes
        return record["epochs"]
    words = str(record.get("command") or "").replace("=", " ").split()
    for flag in ("--trainer.max-epochs", "--trainer.max_epochs"):
        if flag in words[:-1] and words[words.index(flag) + 1].isdigit():
            return int(words[words.index(flag) + 1])
    config = record.get("config") or {}
    if not isinstance(config, dict):
        return None
    epochs = (config.get("trainer") or {}).get("max_epochs") if "trainer" in config else \
        ((config.get("datasets") or {}).get(record.get("dataset")) or {}).get("epochs") \
        if isinstance(config.get("datasets"), dict) else None
    return int(epochs) if epochs else None


def rerun_command(record: dict[str, Any], seeds: list[int] | None = None) -> str:
    """The command that runs this record's cell alone (its missing stages; ``--results`` elsewhere to redo);
    for several seeds, a shell loop over them."""
    seeds = sorted(set(seeds or [int(record.get("seed") or 0)]))
    scale = record.get("scale", "quick")
    command = evaluate_command(record.get("recipe", "?"), scale, data_root="DATA" if scale == "paper" else None,
                              seed="$s" if len(seeds) > 1 else seeds[0], scratch=record.get("method") == "scratch")
    return f"for s in {' '.join(map(str, seeds))}; do {command}; done" if len(seeds) > 1 else command


def epoch_curves(log: Path, kind: str) -> dict[str, list[float]]:
    """Per-epoch means of the stage's logged metrics (``kind``: pretrain or finetune)."""
    try:
        frame = pd.read_csv(log)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return {}
    if "epoch" not in frame:
        return {}
    curves = {}
    for column, label in CURVES.get(kind, []):
        matches = [c for c in frame.columns if c == column or (column.endswith("*") and c.startswith(column[:-1]))]
        for name in matches:
            series = frame.dropna(subset=[name]).groupby("epoch")[name].mean()
            if len(series) > 1:
                curves[label if len(matches) == 1 else f"{label} ({name.rsplit('/', 1)[-1]})"] = [
                    round(float(v), 4) for v in series]
    return curves


def stage_log(work: Path, cell: str, stage: str) -> Path | None:
    logs = sorted((work / cell / stage / "logs").glob("version_*/metrics.csv"))
    return logs[-1] if logs else None


# --- chance levels of the curves ---------------------------------------------------------------------
def pretext_chance(method: str, config: dict[str, Any] | None, label: str) -> float | None:
    """Chance of a pretext curve where the task is a plain classification: accuracy 1/K (as a
    fraction, like the logs), and for Pace, whose loss is that cross-entropy alone, loss ln K."""
    model = (config or {}).get("model", {}) if isinstance(config, dict) else {}
    classes = {"pace": model.get("max_pace", 4), "prp": len(model.get("rates", [1, 2, 4, 8]))}.get(method)
    if label.startswith("pretext accuracy"):
        if method == "rspnet" and label.endswith("(rsp)"):
            return 0.5  # RSPNet: is the same-speed pair closer than the other? a coin flip
        return 1 / classes if classes and label in ("pretext accuracy", "pretext accuracy (pace)",
                                                    "pretext accuracy (rate)") else None
    if label == "pretext loss" and method == "pace" and classes:
        return math.log(classes)
    return None


def downstream_chance(classes: int | None, label: str) -> float | None:
    if not classes:
        return None
    return 1 / classes if "top-1" in label else math.log(classes) if "loss" in label else None


def unit(label: str) -> str:
    return "accuracy (%)" if ("accuracy" in label or "top-1" in label) else "loss (nats)"


def curve_svg(label: str, by_seed: dict[int, list[float]], chance: float | None = None,
              width: int = 300, height: int = 170) -> str:
    """One line per seed against epochs, with axes, ticks, the unit and a dashed chance line.
    Accuracies (logged as fractions) are drawn in % on 0-100; losses from 0 to their maximum (and
    chance): a fall from 1.46 to 1.39 beside a chance of 1.386 looks as small as it is."""
    percent = unit(label).startswith("accuracy")
    scale = 100.0 if percent else 1.0
    series = {s: [v * scale for v in vals] for s, vals in by_seed.items() if vals}
    level = chance * scale if chance is not None else None
    top = 100.0 if percent else max([max(v) for v in series.values()] + ([level] if level is not None else []) + [1e-9])
    top = top if percent else 4 * _nice(top * 1.02 / 4)  # four round steps
    epochs = max((len(v) for v in series.values()), default=1)
    left, right, upper, lower = 42, 10, 10, 30
    pw, ph = width - left - right, height - upper - lower

    def x(i: float) -> float:
        return left + pw * i / max(1, epochs - 1)

    def y(v: float) -> float:
        return upper + ph * (1 - v / top)

    out = [f'<svg class="curve-plot" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{html.escape(label)}"><rect x="{left}" y="{upper}" width="{pw}" height="{ph}" fill="#fff" stroke="#ccc"/>']
    for k in range(5):
        v = top * k / 4
        out.append(f'<line class="ytick" x1="{left - 3}" y1="{y(v):.1f}" x2="{left}" y2="{y(v):.1f}" stroke="#666"/>'
                   f'<text x="{left - 5}" y="{y(v) + 3:.1f}" text-anchor="end" font-size="9">{_tick(v)}</text>')
    step = max(1, math.ceil(epochs / 6))
    for e in range(0, epochs, step):
        out.append(f'<line class="xtick" x1="{x(e):.1f}" y1="{upper + ph}" x2="{x(e):.1f}" y2="{upper + ph + 3}" stroke="#666"/>'
                   f'<text x="{x(e):.1f}" y="{upper + ph + 13}" text-anchor="middle" font-size="9">{e}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 3}" text-anchor="middle" font-size="9">epoch</text>'
               f'<text x="9" y="{upper + ph / 2}" font-size="9" text-anchor="middle" '
               f'transform="rotate(-90 9 {upper + ph / 2})">{html.escape(unit(label))}</text>')
    if level is not None:
        out.append(f'<line class="chance" x1="{left}" y1="{y(level):.1f}" x2="{left + pw}" y2="{y(level):.1f}" '
                   f'stroke="#c00" stroke-dasharray="5 3"/><text x="{left + pw - 2}" y="{y(level) - 3:.1f}" '
                   f'text-anchor="end" font-size="9" fill="#c00">chance {_tick(level)}</text>')
    for i, (seed, vals) in enumerate(sorted(series.items())):
        colour = SEED_COLOURS[i % len(SEED_COLOURS)]
        pts = " ".join(f"{x(e):.1f},{y(v):.1f}" for e, v in enumerate(vals))
        out.append(f'<polyline class="seed-line" data-seed="{seed}" fill="none" stroke="{colour}" stroke-width="1.5" '
                   f'points="{pts}"><title>seed {seed}</title></polyline>')
    out.append("</svg>")
    legend = " ".join(f'<span style="color:{SEED_COLOURS[i % len(SEED_COLOURS)]}">━ seed {s}</span>'
                      for i, s in enumerate(sorted(series)))
    first = [v[0] for v in series.values()]
    last = [v[-1] for v in series.values()]
    summary = (f"{len(series)} seed{'s' if len(series) != 1 else ''}, {epochs} epochs: "
               f"{_tick(sum(first) / len(first))} → {_tick(sum(last) / len(last))} (mean over seeds)")
    return (f'<div class="curve"><b>{html.escape(label)}</b> <span class="muted">{summary}</span><br>{"".join(out)}'
            f'<br><span class="seed-legend">{legend}</span></div>')


def _nice(v: float) -> float:
    """The next 'round' number at or above ``v`` (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k)."""
    if v <= 0:
        return 1.0
    base = 10 ** math.floor(math.log10(v))
    return next(m * base for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * base >= v * (1 - 1e-9))


def _tick(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 10 else f"{v:.2f}".rstrip("0").rstrip(".") if v else "0"


# --- panels --------------------------------------------------------------------------------------
def _facts(pairs: list[tuple[str, str]]) -> str:
    """``(label, html)`` pairs as a definition list (the values are HTML already)."""
    return '<dl>' + "".join(f"<dt>{html.escape(k)}</dt><dd>{v}</dd>" for k, v in pairs if v) + "</dl>"


def _versions(versions: dict[str, Any]) -> str:
    return html.escape(", ".join(f"{k} {v}" for k, v in (versions or {}).items()))


def _skipped(records: list[dict[str, Any]]) -> str:
    replaced = sum(int((r.get("skipped_videos") or {}).get("replaced", 0) or 0) for r in records)
    dropped = sum(int((r.get("skipped_videos") or {}).get("dropped", 0) or 0) for r in records)
    return html.escape(f"{replaced} replaced, {dropped} dropped (undecodable), over all seeds")


def _seconds(v: Any) -> str:
    try:
        return f"{float(v):.1f} s"
    except (TypeError, ValueError):
        return "–"


def reproduced_panel(records: list[dict[str, Any]], pretrains: list[dict[str, Any] | None],
                     values: dict[int, dict[str, float]], work: Path, classes: int | None = None) -> str:
    """The panel of one reproduced row: ``records`` its stage records (one per seed), ``pretrains`` the
    pretraining record of each seed's cell (or None), ``values`` the row's metric values by seed."""
    first = records[0]
    scratch = first.get("method") == "scratch"
    recipe = html.escape(recipe_path(first))
    recipe_html = (f"none: random initialisation, no pretraining (downstream protocol from <code>{recipe}</code>)"
                   if scratch else f'<a href="../{recipe}"><code>{recipe}</code></a>' if recipe else "")
    weights = first.get("weights") or {}
    seeds = sorted(int(r.get("seed") or 0) for r in records)
    paths = ", ".join(f"<code>results/runs/{html.escape(str(r.get('cell')))}/{html.escape(str(r.get('stage')))}.json</code>"
                      for r in records)
    metrics = sorted({m for v in values.values() for m in v}, key=_metric_key)
    head = "<tr><th>seed</th>" + "".join(f"<th>{html.escape(m)}</th>" for m in metrics) + (
        "<th>pretext accuracy at the end (chance)</th><th>pretraining</th><th>this stage</th><th>started</th>"
        "<th>device</th></tr>")
    rows = []
    for r, pre in sorted(zip(records, pretrains), key=lambda p: int(p[0].get("seed") or 0)):
        seed = int(r.get("seed") or 0)
        cells = "".join(f"<td>{values.get(seed, {}).get(m, float('nan')):.1f}</td>" for m in metrics)
        rows.append(f"<tr><td>{seed}</td>{cells}<td>{html.escape(pretext_text(pre))}</td>"
                    f"<td>{_seconds((pre or {}).get('wall_s')) if pre else '–'}</td>"
                    f"<td>{_seconds(r.get('wall_s'))}</td><td>{html.escape(str(r.get('started', '')))}</td>"
                    f"<td>{html.escape(str(r.get('device', '')))}</td></tr>")
    per_seed = f'<table class="seeds"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'
    pre_epochs = {str(stage_epochs(p)) for p in pretrains if stage_epochs(p)}
    facts = [("model", html.escape(f"{first.get('method')} / {first.get('backbone')} / {first.get('scale')} scale")),
             ("recipe", recipe_html),
             ("weights", html.escape(f"{weights.get('format')} layout, sha256 {weights.get('sha256')}") if weights else ""),
             ("pretraining epochs", html.escape(", ".join(sorted(e for e in pre_epochs if e))) if pre_epochs else ""),
             ("seeds", html.escape(", ".join(map(str, seeds)))),
             ("records", paths + ' <span class="muted">(local files written by the run; <code>results/runs/</code> '
              "is not committed, so this panel repeats what they hold)</span>"),
             ("skipped videos", _skipped(records + [p for p in pretrains if p])),
             ("versions", _versions(first.get("versions", {}))),
             ("re-run", "<br>".join(f"<code>{html.escape(c)}</code>" for c in _commands(records, seeds)))]
    curves = _curves(records, pretrains, work, classes)
    return (_facts(facts) + per_seed + (curves or '<p class="muted">no training logs here (<code>results/work/</code> '
                                      "holds them after a run)</p>"))


def pretext_text(pretrain: dict[str, Any] | None) -> str:
    """``rsp 51.0% (chance 50.0%), avid 12.0% (chance 0.2%)`` from a pretraining record; ``–`` without."""
    pretext = ((pretrain or {}).get("metrics") or {}).get("pretext") or {}
    if not pretext:
        return "–"
    return ", ".join(f"{name.removeprefix('acc/')} {v['accuracy']:.1f}%"
                     + (f" (chance {v['chance']:.1f}%)" if v.get("chance") is not None else "")
                     for name, v in pretext.items())


def _commands(records: list[dict[str, Any]], seeds: list[int]) -> list[str]:
    """The commands the records stored (with the user's own options), one per seed; else ours."""
    stored = list(dict.fromkeys(str(r["command"]) for r in sorted(records, key=lambda r: int(r.get("seed") or 0))
                                if r.get("command")))
    return stored or [rerun_command(records[0], seeds)]


def _curves(records: list[dict[str, Any]], pretrains: list[dict[str, Any] | None], work: Path,
            classes: int | None) -> str:
    """Pretext curves (and fine-tuning curves for a fine-tuning row), every seed on one plot."""
    by_label: dict[str, dict[int, list[float]]] = {}
    chances: dict[str, float | None] = {}
    for r, pre in zip(records, pretrains):
        seed, cell = int(r.get("seed") or 0), str(r.get("cell", ""))
        stages = [("pretrain", "pretrain")] if pre else []
        if str(r.get("stage", "")).startswith("finetune"):
            stages.append(("finetune", str(r.get("stage"))))
        for kind, stage in stages:
            log = stage_log(work, cell, stage)
            if log is None:
                continue
            for label, vals in epoch_curves(log, kind).items():
                by_label.setdefault(label, {})[seed] = vals
                chances[label] = (pretext_chance(str(r.get("method")), (pre or {}).get("config"), label)
                                  if kind == "pretrain" else downstream_chance(classes, label))
    return "".join(curve_svg(label, series, chances.get(label)) for label, series in by_label.items())


def _metric_key(metric: str) -> tuple[int, int, str]:
    from vssl_bench.report.paper_tables import metric_key

    return metric_key(metric)


def reported_panel(row: dict[str, Any]) -> str:
    """The provenance of a paper's number: paper, sources, setup, remark, recipe and the command."""
    refs = [(label, url) for label, url in zip(str(row.get("reference") or "").split(" + "),
                                                 str(row.get("reference_url") or "").split() + [""] * 9) if label]
    links = " + ".join(f'<a href="{html.escape(u)}">{html.escape(label)}</a>' if u not in ("", "-") else html.escape(label)
                       for label, u in refs)
    recipe = str(row.get("recipe") or "")
    command = f"vssl-bench evaluate --config {recipe} --scale paper --data-root DATA" if recipe else ""
    facts = [("paper", f'<a href="{html.escape(str(row.get("paper_url", "")))}">{html.escape(str(row.get("paper_title", "")))}</a>'
              f' ({html.escape(str(row.get("paper_date", "")))})'),
             ("number read from", links),
             ("remark", html.escape(str(row.get("remark") or ""))),
             ("input", html.escape(str(row.get("input") or "")) + " (frames × crop side)"),
             ("pretraining", html.escape(f"{row.get('pretrain_data')}, {row.get('epochs')} epochs")),
             ("recipe", f'<a href="../{html.escape(recipe)}"><code>{html.escape(recipe)}</code></a>' if recipe
              else "no recipe in experiments/"),
             ("reproduce", f"<code>{html.escape(command)}</code>" if command else "")]
    return _facts(facts)
