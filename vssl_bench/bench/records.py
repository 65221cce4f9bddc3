"""One JSON record per finished stage, written atomically; the leaderboard is rebuilt from these alone."""

from __future__ import annotations

import json
import os
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def versions() -> dict[str, str]:
    import av
    import pytorch_lightning
    import torch

    import vssl_bench

    return {"vssl_bench": vssl_bench.__version__, "torch": torch.__version__, "lightning": pytorch_lightning.__version__,
            "av": av.__version__, "python": platform.python_version()}


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()}x {torch.cuda.get_device_name(0)}"
    return f"cpu ({os.cpu_count()} cores, {platform.machine()})"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_record(path: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as JSON at ``path`` via a temporary file and a rename: a reader sees the whole
    record or none."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(record, f, indent=2, sort_keys=True, default=str)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_record(path: str | Path) -> dict[str, Any] | None:
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def load_records(root: str | Path) -> list[dict[str, Any]]:
    """Every readable record under ``root`` (``results/runs``)."""
    out = []
    for path in sorted(Path(root).rglob("*.json")):
        record = read_record(path)
        if record is not None:
            out.append(record)
    return out
