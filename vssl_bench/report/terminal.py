"""The quick scale's verdicts as the terminal shows them at the end of ``make run``: per model, the
frozen-feature probe's top-1 and retrieval's R@1 with Δ against random init of the same backbone and
its verdict (▲/▼ beyond the seed spread, ≈ within it), and each pretext accuracy beside its chance
level. The same numbers as ``leaderboard.md``'s quick tables, without the links and setup columns."""

from __future__ import annotations

from typing import Any

from vssl_bench import catalog
from vssl_bench.report.paper_tables import SIGNS, Section
from vssl_bench.report.tables import PRETEXT_NAMES

COLUMNS = (("frozen-feature logistic probe", "Top-1 Accuracy", "probe top-1"), ("nn-retrieval", "R@1", "R@1"))


def terminal_summary(views: list[Section], pretext: list[dict[str, Any]]) -> str:
    quick = {(sec.protocol, m): sec for sec in views if sec.scale == "quick" for m in sec.metrics}
    columns = [(protocol, metric, title) for protocol, metric, title in COLUMNS if (protocol, metric) in quick]
    if not columns:
        return ""
    rows: dict[tuple[str, str], list[str]] = {}
    for i, (protocol, metric, _) in enumerate(columns):
        for line in quick[(protocol, metric)].lines:
            if line.kind != "ours":
                continue
            row = rows.setdefault((line.method_name, line.backbone_name), [""] * len(columns))
            cell = line.cells.get(metric)
            if cell is not None:
                row[i] = cell.value + (f" {cell.delta} {SIGNS[cell.judgement]}" if cell.delta else "")
    names, backbones = catalog.method_names(), catalog.backbone_names()
    pretexts: dict[tuple[str, str], list[str]] = {}
    for entry in pretext:
        if entry["scale"] != "quick":
            continue
        key = (names.get(entry["method"], entry["method"]), backbones.get(entry["backbone"], entry["backbone"]))
        chance = entry.get("chance")
        pretexts.setdefault(key, []).append(f"{PRETEXT_NAMES.get(entry['metric'], entry['metric'])} "
                                            f"{entry['mean']:.1f}" + ("" if chance is None else f" (chance {chance:.1f})"))
    header = ["method", "backbone", *(title for _, _, title in columns), "pretext accuracy at the end"]
    table = [header] + [[m, b, *cells, "; ".join(pretexts.get((m, b), []))] for (m, b), cells in rows.items()]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table]
    return ("quick scale (synthetic data; mean ± std over seeds; Δ against random init of the same backbone: "
            "▲/▼ beyond the larger seed spread, ≈ within it)\n" + "\n".join(lines))
