"""What a stage command prints last: a short table of what it measured and where its records are.

``finetune``, ``retrieve`` and ``evaluate`` end with :func:`summarize` (their cell's records: top-1 and
top-5 with the selected and last epoch, R@k and the frozen-feature logistic probe, the final pretext loss
and accuracy beside chance); ``pretrain``, which writes a checkpoint and no record, ends with
:func:`pretrain_summary` read from its training log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vssl_bench import catalog
from vssl_bench.records import kind_and_protocol, read_record
from vssl_bench.report import paper_tables, record_panels

KIND_ORDER = ("pretrain", "finetune", "retrieval")


def _pct(v: Any) -> str:
    try:
        return f"{float(v):.1f}"
    except (TypeError, ValueError):
        return "?"


def _chance(dataset: str) -> str:
    level = paper_tables.chance(catalog.dataset_names().get(dataset, dataset), "Top-1 Accuracy")
    return f"chance {level:.1f}" if level is not None else ""


def pretext_result(work: Path, cell: str, method: str, config: dict[str, Any] | None) -> str:
    """``pretext loss 1.46 -> 1.39 (chance 1.39), accuracy (pace) 27.0% (chance 25.0%), 4 epochs`` from
    the pretraining log of ``cell``, or a note that there is none."""
    log = record_panels.stage_log(work, cell, "pretrain")
    curves = record_panels.epoch_curves(log, "pretrain") if log else {}
    if not curves:
        return f"no training log under {work / cell / 'pretrain'}"
    parts = []
    for label, values in curves.items():
        level = record_panels.pretext_chance(method, config, label)
        if label.startswith("pretext accuracy"):
            name = label.replace("pretext ", "")
            text = f"{name} {100 * values[-1]:.1f}%" + (f" (chance {100 * level:.1f}%)" if level is not None else "")
        else:
            text = f"{label} {values[0]:.3g} -> {values[-1]:.3g}" + (f" (chance {level:.3g})" if level is not None else "")
        parts.append(text)
    epochs = max(len(v) for v in curves.values())
    return ", ".join(parts) + f"; {epochs} epochs"


def stage_result(record: dict[str, Any], work: Path) -> str:
    """One line of what a record measured."""
    if record.get("status") != "ok":
        return f"FAILED: {record.get('error', 'see the record')}"
    kind, _ = kind_and_protocol(record)
    metrics = record.get("metrics") or {}
    dataset = str(record.get("dataset", ""))
    if kind == "pretrain":
        return pretext_result(work, str(record.get("cell")), str(record.get("method")), record.get("config"))
    if kind == "finetune":
        select = metrics.get("select", "last")
        text = f"top-1 {_pct(metrics.get('top1'))}, top-5 {_pct(metrics.get('top5'))}"
        if select == "last":
            text += f" (epoch {metrics.get('selected_epoch', '?')}, the last)"
        else:
            text += (f" ({select} epoch {metrics.get('selected_epoch', '?')}; last epoch: top-1 "
                     f"{_pct(metrics.get('top1_last'))}, top-5 {_pct(metrics.get('top5_last'))})")
        return text + (f"; {_chance(dataset)}" if _chance(dataset) else "")
    recalls = "  ".join(f"{k} {_pct(v)}" for k, v in sorted(
        ((k, v) for k, v in metrics.items() if k.startswith("R@")), key=lambda kv: int(kv[0][2:])))
    text = recalls or "no recall measured"
    if "probe_top1" in metrics:
        text += f"; logistic probe top-1 {_pct(metrics['probe_top1'])}"
    return text + (f"; {_chance(dataset)}" if _chance(dataset) else "")


def format_records(records: list[tuple[Path, dict[str, Any]]], work: Path, since: float | None = None) -> str:
    """A short text table, one line per record: stage, protocol, dataset, what it measured; then where
    the records are. ``records``: (path, record) pairs; a record older than ``since`` is marked
    ``(earlier run)``."""
    if not records:
        return "no records written."
    rows = []
    for path, record in sorted(records, key=lambda pr: (_kind_rank(pr[1]), str(pr[1].get("stage")))):
        try:
            _, protocol = kind_and_protocol(record)
        except ValueError:
            protocol = "?"
        earlier = since is not None and path.stat().st_mtime < since
        rows.append((str(record.get("stage", "")), protocol, str(record.get("dataset", "")),
                     stage_result(record, work) + (" (earlier run)" if earlier else "")))
    head = ("stage", "protocol", "dataset", "result")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row[:3], widths)) + "  " + row[3] for row in [head, *rows]]
    cells = sorted({str(r.get("cell")) for _, r in records})
    seeds = sorted({int(r.get("seed") or 0) for _, r in records})
    folders = sorted({str(p.parent) for p, _ in records})
    title = f"{', '.join(cells)} (seed {', '.join(map(str, seeds))})"
    return "\n".join([title, *lines, "records: " + ", ".join(f"{f}/" for f in folders)])


def _kind_rank(record: dict[str, Any]) -> int:
    try:
        return KIND_ORDER.index(kind_and_protocol(record)[0])
    except ValueError:
        return len(KIND_ORDER)


def summarize(results: str | Path, cells: list[str], kinds: tuple[str, ...] = KIND_ORDER,
              since: float | None = None) -> str:
    """The table of the records of ``cells`` (folders under ``results/runs``) of the given kinds."""
    results = Path(results)
    found = []
    for cell in cells:
        for path in sorted((results / "runs" / cell).glob("*.json")):
            record = read_record(path)
            if record is not None and _kind_of(record) in kinds:
                found.append((path, record))
    return format_records(found, results / "work", since)


def _kind_of(record: dict[str, Any]) -> str:
    try:
        return kind_and_protocol(record)[0]
    except ValueError:
        return ""


def pretrain_summary(checkpoint: Path, work: Path, cell: str, method: str, config: dict[str, Any]) -> str:
    """What ``vssl-bench pretrain`` prints last: the pretext result beside chance and the checkpoint."""
    return "\n".join([f"{cell}: {pretext_result(work, cell, method, config)}",
                      f"checkpoint: {checkpoint}",
                      "(no record: `vssl-bench evaluate` records the stages it runs)"])
