"""The one way to write the command that runs a cell alone (dry runs, records, the results page)."""

from __future__ import annotations

from collections.abc import Sequence


def evaluate_command(recipe: str, scale: str, *, data_root: str | None = None, seed: int | str = 0,
                     scratch: bool = False, checkpoint_format: str = "auto", extra: Sequence[str] = ()) -> str:
    """``vssl-bench evaluate --config RECIPE --scale SCALE [...]`` with only the options that differ from
    the defaults; ``extra`` carries the user's own (``--trainer.devices 8``, ...)."""
    parts = ["vssl-bench", "evaluate", "--config", str(recipe), "--scale", scale]
    if data_root:
        parts += ["--data-root", str(data_root)]
    if seed not in (0, "0", None):
        parts += ["--seed", str(seed)]
    if scratch:
        parts += ["--scratch", "true"]
    if checkpoint_format != "auto":
        parts += ["--checkpoint-format", checkpoint_format]
    return " ".join([*parts, *extra])
