"""One JSON record per finished stage, written atomically; the leaderboard is rebuilt from these alone.

Neither side owns this module: the runner (``vssl_bench.bench``) writes records, the report
(``vssl_bench.report``) reads them, and both write their files whole with :func:`write_atomic`.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vssl_bench.errors import ResultsUnwritableError


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


def unwritable(path: str | Path, exc: OSError, needed: int | None = None) -> ResultsUnwritableError:
    """The error for a file of results/ (a record, a table, a checkpoint) that could not be written:
    the path, the cause, the free space where it matters and the space needed, and what to do."""
    import errno
    import shutil

    path = Path(path)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        folder = next((p for p in (path.parent, *path.parents) if p.exists()), Path("."))
        free = shutil.disk_usage(folder).free
        need = f"; it needs {_size(needed)}" if needed else ""
        return ResultsUnwritableError(
            f"cannot write {path}: no space left on its disk ({_size(free)} free{need}). Free some space, or "
            "pass --results on a larger disk; a rerun of the same command resumes where this one stopped.")
    return ResultsUnwritableError(
        f"cannot write {path}: {exc.strerror or exc}. Make the folder writable, or pass --results to a "
        "folder you can write; a rerun of the same command resumes where this one stopped.")


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{max(1, n // 1024)} KB"


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) at ``path`` through a temporary file in the same folder
    and a rename: a reader, or a second writer, sees the previous file or the new one whole, never a
    part; a failure leaves the previous file as it was and no temporary file behind. A full disk or an
    unwritable folder raises :class:`ResultsUnwritableError` naming the path and the space needed."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # os.open rather than mkstemp: the file gets the umask's mode (as a plain open would), not 0600
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except OSError as exc:
        raise unwritable(path, exc, len(payload)) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_record(path: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as JSON at ``path``, atomically: a reader sees the whole record or none."""
    return write_atomic(path, json.dumps(record, indent=2, sort_keys=True, default=str))


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


# --- what a record measured ------------------------------------------------------------------------
# A record states its ``kind`` (the stage's job) and ``protocol`` (how it was measured); the leaderboard
# files rows by these two fields, never by stage names.
KINDS = ("pretrain", "finetune", "retrieval")
PROTOCOLS = {
    "pretrain": ("pretext",),  # the method's own task; its metrics are the pretext loss/accuracy
    "finetune": ("full-finetune", "linear-probe"),  # a trained classifier: whole network, or frozen backbone
    "retrieval": ("nn-retrieval",),  # nearest neighbours of frozen features (its records also carry
    # ``probe_top1``: a logistic regression on the same frozen features, the "frozen-feature probe")
}


def kind_and_protocol(record: dict[str, Any]) -> tuple[str, str]:
    """The record's ``(kind, protocol)``. Records written before these fields existed (stage names
    ``pretrain``, ``finetune-<dataset>[-splitN]``, ``retrieval-<dataset>``) are classified from their stage
    and the ``linear_probe`` flag of their fine-tuning config."""
    kind, protocol = record.get("kind"), record.get("protocol")
    if kind in PROTOCOLS and protocol in PROTOCOLS[kind]:
        return kind, protocol
    stage = str(record.get("stage", ""))
    if stage.startswith("pretrain"):
        return "pretrain", "pretext"
    if stage.startswith("retrieval"):
        return "retrieval", "nn-retrieval"
    if stage.startswith("finetune"):
        config = record.get("config") or {}
        spec = (config.get("datasets") or {}).get(record.get("dataset"), {}) if isinstance(config, dict) else {}
        return "finetune", "linear-probe" if spec.get("linear_probe") else "full-finetune"
    raise ValueError(f"record of stage {stage!r} states no kind/protocol; rerun `vssl-bench leaderboard` after "
                     "re-running that stage, or delete the record.")
