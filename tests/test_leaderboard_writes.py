"""The leaderboard writer puts every file in place whole (one writer per file under DDP, readers at any
time): no temporary file stays behind, and a write that fails half-way leaves the previous file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_leaderboard_fixtures import write_records

from vssl_bench import records
from vssl_bench.errors import ResultsUnwritableError
from vssl_bench.report.leaderboard import write_leaderboard

OUTPUTS = {"leaderboard.csv", "leaderboard.md", "leaderboard.json", "leaderboard-quick.json", "index.html",
           "model-index.yml"}


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp")]


def test_the_writer_leaves_its_files_and_nothing_else(tmp_path):
    write_records(tmp_path, logs=False)
    out = write_leaderboard(tmp_path)
    assert {p.name for p in out.values()} == OUTPUTS
    assert {p.name for p in tmp_path.iterdir()} == OUTPUTS | {"runs"}
    assert not leftovers(tmp_path)
    write_leaderboard(tmp_path)  # over files already there
    assert not leftovers(tmp_path)


class DiskFull(OSError):
    pass


def test_a_write_failing_half_way_leaves_the_previous_files(tmp_path, monkeypatch):
    write_records(tmp_path, logs=False)
    before = {p.name: p.read_bytes() for p in write_leaderboard(tmp_path).values()}
    # a new record changes every table, so a half-written or replaced file would show
    records.write_record(tmp_path / "runs" / "pace-r3d10-ucf101-quick" / "retrieval-ucf101.json", {
        "status": "ok", "method": "pace", "backbone": "r3d10", "scale": "quick", "seed": 0,
        "cell": "pace-r3d10-ucf101-quick", "pretrain_data": "synthetic", "stage": "retrieval-ucf101",
        "kind": "retrieval", "protocol": "nn-retrieval", "dataset": "ucf101", "metrics": {"R@1": 12.3}})

    real_fdopen, opened = os.fdopen, []

    class HalfWriting:
        """A file that writes half of what it is given, then fails as a full disk does."""

        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            raise DiskFull(28, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    def failing_fdopen(fd, *args, **kwargs):
        f = real_fdopen(fd, *args, **kwargs)
        opened.append(f)
        return HalfWriting(f) if len(opened) == 5 else f  # the fifth file (index.html) fails half-way

    monkeypatch.setattr(os, "fdopen", failing_fdopen)
    with pytest.raises(ResultsUnwritableError, match=r"cannot write .*index\.html: no space left"):
        write_leaderboard(tmp_path)
    monkeypatch.undo()
    assert len(opened) == 5
    assert (tmp_path / "index.html").read_bytes() == before["index.html"]  # the failed file: untouched
    assert (tmp_path / "leaderboard.csv").read_bytes() != before["leaderboard.csv"]  # the ones before: new, whole
    assert not leftovers(tmp_path)
    after = write_leaderboard(tmp_path)  # and the next run writes them all
    assert (tmp_path / "index.html").read_bytes() != before["index.html"]
    assert {p.name for p in after.values()} == OUTPUTS and not leftovers(tmp_path)


def test_write_atomic_keeps_the_bytes_of_a_plain_write(tmp_path):
    text = "Δ ± café\nline two\n"
    (tmp_path / "plain.md").write_text(text, encoding="utf-8")
    records.write_atomic(tmp_path / "atomic.md", text)
    assert (tmp_path / "atomic.md").read_bytes() == (tmp_path / "plain.md").read_bytes()
