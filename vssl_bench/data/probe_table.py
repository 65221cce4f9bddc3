"""Every video's probe, made once per dataset index and kept with it in a compact table.

Sampling a clip needs the video's frame count, and reading it exactly needs the keyframe and
timestamp tables that :func:`~vssl_bench.data.decode.probe` learns by demultiplexing the file. A
per-process cache of those answers cannot hold Kinetics (~240k videos): most samples would demux
their file again before decoding it. A :class:`ProbeTable` holds the answer for each video of an
index instead, made when the dataset is made (in the main process, before loader workers start, so
they share it), and never probes again. Large indexes are also written to disk
(:mod:`vssl_bench.data.probe_index`), so that stages, seeds, ranks and later runs read them instead
of probing again; the table's columns are then memory-mapped views of that file.

Memory per video stays at a few numbers: the scalar facts take one slot each in numpy columns, and
each per-frame or per-keyframe array is stored as ``(start, step, length)`` when it is an arithmetic
progression — the timestamps of a constant-frame-rate file and the keyframes of a fixed-GOP
encoding are — and only otherwise copied into a shared pool (variable frame rates, irregular GOPs).
Numpy columns (not a list of Python objects) also keep forked workers from copying the table page by
page as reference counts change.

A video whose probe fails keeps its error; asking for it raises that error again
(:class:`~vssl_bench.errors.VideoDecodeError`), so the data module's replacement policy applies
without opening the file a second time.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from vssl_bench.data.decode import VideoInfo, probe
from vssl_bench.errors import VideoDecodeError

# below this many videos the table is probed in this process (through decode's per-process cache, so
# a small dataset read by many stages of one process is demultiplexed once); above it, in parallel
SERIAL_LIMIT = 2000

# the bits of the ``flags`` column
BY_POSITION, PACKED_BFRAMES, FAILED = 1, 2, 4

SCALARS: dict[str, type] = {  # one value per video
    "num_frames": np.int32, "fps": np.float64, "width": np.int32, "height": np.int32, "flags": np.uint8,
    "declared_frames": np.int32, "undecoded_vops": np.int32, "demuxer": np.int8}
# per-video integer sequences and the type of their pool: keyframe numbers fit 32 bits, timestamps do not
SEQUENCES: dict[str, type] = {"keyframes": np.int32, "times": np.int64, "key_pts": np.int64}


def held_cores() -> int:
    """The cores this process may run on (its affinity mask, which a scheduler or launcher may narrow)."""
    return len(os.sched_getaffinity(0))


class _Sequences:
    """Integer arrays, one per row: an arithmetic progression as three numbers, anything else pooled.

    Row ``r`` is ``a[r] + b[r] * arange(n[r])`` when ``n[r] >= 0``; a negative ``n[r]`` marks a pooled
    row, whose ``-n[r]`` values start at ``pool[a[r]]``."""

    def __init__(self, rows: int, pool_dtype: type = np.int64,
                 columns: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None) -> None:
        if columns is None:
            columns = (np.zeros(rows, np.int64), np.zeros(rows, np.int64), np.zeros(rows, np.int32),
                       np.zeros(0, pool_dtype))
        self.a, self.b, self.n, self.pool = columns
        self._pending: list[np.ndarray] = []
        self._pooled = len(self.pool)

    def put(self, row: int, values: np.ndarray) -> None:
        values = np.asarray(values, np.int64)
        if values.size == 0:
            self.a[row] = self.b[row] = self.n[row] = 0
            return
        steps = np.diff(values)
        if steps.size == 0 or (steps == steps[0]).all():
            self.a[row], self.b[row], self.n[row] = values[0], steps[0] if steps.size else 0, values.size
            return
        self.a[row], self.b[row], self.n[row] = self._pooled, 0, -values.size
        self._pending.append(values.astype(self.pool.dtype))
        self._pooled += values.size

    def copy_rows(self, other: _Sequences, src: np.ndarray, dst: np.ndarray) -> None:
        """Rows ``src`` of ``other`` as rows ``dst`` of this column (progressions in one vectorised step)."""
        progression = other.n[src] >= 0
        for mine, theirs in ((self.a, other.a), (self.b, other.b), (self.n, other.n)):
            mine[dst[progression]] = theirs[src[progression]]
        for s, d in zip(src[~progression].tolist(), dst[~progression].tolist()):
            self.put(d, other.get(s))

    def seal(self) -> None:
        if self._pending:
            self.pool = np.concatenate([self.pool, *self._pending])
        self._pending = []

    def get(self, row: int) -> np.ndarray:
        n, a = int(self.n[row]), int(self.a[row])
        if n < 0:
            return np.array(self.pool[a:a - n], dtype=np.int64)
        return a + int(self.b[row]) * np.arange(n, dtype=np.int64)

    @property
    def offset(self) -> np.ndarray:
        """Per row: -1 for a progression, else where its values start in the pool."""
        return np.where(self.n < 0, self.a, -1)

    def columns(self, name: str) -> dict[str, np.ndarray]:
        return {f"{name}.a": self.a, f"{name}.b": self.b, f"{name}.n": self.n, f"{name}.pool": self.pool}

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.a, self.b, self.n, self.pool))


def _probe_or_error(path: str) -> VideoInfo | str:
    try:
        return probe(path)
    except VideoDecodeError as exc:
        return str(exc)


def probe_paths(paths: Sequence[str], workers: int | None = 0) -> Iterator[VideoInfo | str]:
    """Each path's probe (or its error message), in order: in this process below ``SERIAL_LIMIT``
    videos or with ``workers <= 1``, else with ``workers`` processes (``None``: every core held)."""
    workers = held_cores() if workers is None else workers
    if workers <= 1 or len(paths) < SERIAL_LIMIT:
        return map(_probe_or_error, paths)
    # spawned processes: the caller may hold threads or a CUDA context that forking would copy
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    chunks = max(1, min(256, len(paths) // (workers * 16)))
    return _closing(pool, pool.map(_probe_or_error, paths, chunksize=chunks))


class ProbeTable:
    """The probes of ``paths`` (row ``i`` is ``paths[i]``), made with ``workers`` processes."""

    def __init__(self, paths: Sequence[str], workers: int | None = 0) -> None:
        self._allocate(paths)
        self.fill(range(len(paths)), probe_paths(paths, workers))
        self.seal()

    def _allocate(self, paths: Sequence[str], columns: dict[str, np.ndarray] | None = None,
                  demuxers: list[str | None] | None = None, errors: dict[int, str] | None = None) -> None:
        rows = len(paths)
        self.paths = paths
        for name, dtype in SCALARS.items():
            setattr(self, name, np.zeros(rows, dtype) if columns is None else columns[name])
        self.demuxers: list[str | None] = list(demuxers or [])  # the demuxer column indexes this list
        self.errors: dict[int, str] = dict(errors or {})
        # by timestamp: every frame's timestamp (a keyframe's seek and frame timestamps are its own);
        # by position: each keyframe's seek timestamp, and in key_pts the timestamp its frame carries
        for name, pool_dtype in SEQUENCES.items():
            parts = None if columns is None else tuple(columns[f"{name}.{p}"] for p in ("a", "b", "n", "pool"))
            setattr(self, name, _Sequences(rows, pool_dtype, parts))

    @classmethod
    def blank(cls, paths: Sequence[str]) -> ProbeTable:
        """A table of ``paths`` with no probe in it yet (``fill`` then ``seal`` it)."""
        table = cls.__new__(cls)
        table._allocate(paths)
        return table

    @classmethod
    def from_columns(cls, paths: Sequence[str], columns: dict[str, np.ndarray], demuxers: list[str | None],
                     errors: dict[int, str]) -> ProbeTable:
        """A table over existing columns (those ``columns()`` returned, e.g. memory-mapped from a file)."""
        table = cls.__new__(cls)
        table._allocate(paths, columns, demuxers, errors)
        return table

    def columns(self) -> dict[str, np.ndarray]:
        out = {name: getattr(self, name) for name in SCALARS}
        for name in SEQUENCES:
            out |= getattr(self, name).columns(name)
        return out

    def fill(self, rows: Iterable[int], answers: Iterable[VideoInfo | str]) -> None:
        for row, answer in zip(rows, answers):
            self._put(row, answer)

    def seal(self) -> None:
        for name in SEQUENCES:
            getattr(self, name).seal()

    def copy_rows(self, other: ProbeTable, src: np.ndarray, dst: np.ndarray) -> None:
        """Rows ``src`` of ``other`` (a table of other paths) as rows ``dst`` of this one."""
        for name in SCALARS:
            if name != "demuxer":
                getattr(self, name)[dst] = getattr(other, name)[src]
        for demuxer in other.demuxers:
            if demuxer not in self.demuxers:
                self.demuxers.append(demuxer)
        remap = np.asarray([self.demuxers.index(d) for d in other.demuxers] or [0], np.int8)
        self.demuxer[dst] = remap[other.demuxer[src]]
        for name in SEQUENCES:
            getattr(self, name).copy_rows(getattr(other, name), src, dst)
        failed = dict(zip(src.tolist(), dst.tolist()))
        for row in set(other.errors) & set(failed):
            self.errors[failed[row]] = other.errors[row]

    def _put(self, row: int, info: VideoInfo | str) -> None:
        if isinstance(info, str):
            self.errors[row] = info
            self.flags[row] = FAILED
            return
        self.num_frames[row], self.fps[row] = info.num_frames, info.fps
        self.width[row], self.height[row] = info.width, info.height
        self.flags[row] = BY_POSITION * info.by_position | PACKED_BFRAMES * info.packed_bframes
        self.declared_frames[row], self.undecoded_vops[row] = info.declared_frames, info.undecoded_vops
        if info.demuxer not in self.demuxers:
            self.demuxers.append(info.demuxer)
        self.demuxer[row] = self.demuxers.index(info.demuxer)
        self.keyframes.put(row, info.keyframes)
        if info.by_position:
            self.times.put(row, info.seek_pts)
            self.key_pts.put(row, info.keyframe_pts)
        else:
            self.times.put(row, info.pts)

    def __len__(self) -> int:
        return len(self.num_frames)

    def info(self, row: int) -> VideoInfo:
        """The probe of ``paths[row]`` as :func:`~vssl_bench.data.decode.probe` returned it."""
        if row in self.errors:
            raise VideoDecodeError(self.errors[row])
        flags = int(self.flags[row])
        keyframes = self.keyframes.get(row)
        if flags & BY_POSITION:
            seek_pts, keyframe_pts, pts = self.times.get(row), self.key_pts.get(row), None
        else:
            pts = self.times.get(row)
            seek_pts = keyframe_pts = pts[keyframes]
        path = str(self.paths[row]) if self.paths is not None else ""
        return VideoInfo(
            path, int(self.num_frames[row]), float(self.fps[row]), int(self.width[row]), int(self.height[row]),
            keyframes, seek_pts, keyframe_pts, pts, packed_bframes=bool(flags & PACKED_BFRAMES),
            declared_frames=int(self.declared_frames[row]), undecoded_vops=int(self.undecoded_vops[row]),
            demuxer=self.demuxers[self.demuxer[row]])

    def select(self, rows: Sequence[int]) -> RowView:
        """The probes of ``paths[rows]``, as a table of its own (row ``i`` is ``rows[i]`` here)."""
        return RowView(self, np.asarray(rows, np.int64))

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self.columns().values())


class RowView:
    """Some rows of a probe table, renumbered from 0 (a held-out part of a split reads its split's table)."""

    def __init__(self, table: ProbeTable | RowView, rows: np.ndarray) -> None:
        self.table, self.rows = table, rows

    def __len__(self) -> int:
        return len(self.rows)

    def info(self, row: int) -> VideoInfo:
        return self.table.info(int(self.rows[row]))

    @property
    def errors(self) -> dict[int, str]:
        where = {int(r): i for i, r in enumerate(self.rows.tolist())}
        return {where[r]: e for r, e in self.table.errors.items() if r in where}

    def select(self, rows: Sequence[int]) -> RowView:
        return RowView(self, np.asarray(rows, np.int64))


def _closing(pool: ProcessPoolExecutor, results):
    with pool:
        yield from results
