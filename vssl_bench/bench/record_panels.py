"""What stands behind a reproduced leaderboard row: its record (recipe, scale, seeds, versions, device,
duration, skipped videos), the one command that re-runs it, and the training curves of its cell read
from the run's CSV logs (``work/<cell>/<stage>/logs/version_*/metrics.csv``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

# per stage kind: the per-epoch curves worth drawing, (column in metrics.csv, label)
CURVES = {
    "pretrain": [("train/epoch_loss", "pretext loss"), ("train/acc/*", "pretext accuracy"), ("val/loss", "held-out loss")],
    "finetune": [("train/top1", "fine-tuning train top-1"), ("val/top1", "validation top-1"), ("val/loss", "validation loss")],
}


def rerun_command(record: dict[str, Any]) -> str:
    """The command that runs this record's cell alone (its missing stages; ``--results`` elsewhere to redo)."""
    scratch = record.get("method") == "scratch"
    parts = ["vssl-bench evaluate", f"--config {record.get('recipe', '?')}", f"--scale {record.get('scale', 'quick')}"]
    if record.get("seed"):
        parts.append(f"--seed {record['seed']}")
    if scratch:
        parts.append("--scratch true")
    if record.get("scale") == "paper":
        parts.append("--data-root DATA")
    return " ".join(parts)


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


def details(record: dict[str, Any], work: Path) -> dict[str, Any]:
    """The panel of one reproduced record: facts, the re-run command, and curves where logs exist."""
    out = {
        "record": f"runs/{record.get('cell')}/{record.get('stage')}.json",
        "recipe": record.get("recipe", ""),
        "scale": record.get("scale", ""),
        "seed": record.get("seed", 0),
        "device": record.get("device", ""),
        "duration_s": record.get("wall_s"),
        "started": record.get("started", ""),
        "versions": record.get("versions", {}),
        "skipped_videos": record.get("skipped_videos", {}),
        "command": rerun_command(record),
        "curves": {},
    }
    cell = record.get("cell", "")
    for kind, stage in (("pretrain", "pretrain"), ("finetune", record.get("stage", ""))):
        if kind == "finetune" and not str(stage).startswith("finetune"):
            continue
        log = stage_log(work, cell, stage)
        if log is not None:
            out["curves"].update(epoch_curves(log, kind))
    return out
