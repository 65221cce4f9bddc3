"""Every video's probe, made once per dataset index and kept with it in a compact table.

Sampling a clip needs the video's frame count, and reading it exactly needs the keyframe and
timestamp tables that :func:`~vssl_bench.data.decode.probe` learns by demultiplexing the file. A
per-process cache of those answers cannot hold Kinetics (~240k videos): most samples would demux
their file again before decoding it. A :class:`ProbeTable` holds the answer for each video of an
index instead, made when the dataset is made (in the main process, before loader workers start, so
they share it), and never probes again.

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
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from vssl_bench.data.decode import VideoInfo, probe
from vssl_bench.errors import VideoDecodeError

# below this many videos the table is probed in this process (through decode's per-process cache, so
# a small dataset read by many stages of one process is demultiplexed once); above it, in parallel
SERIAL_LIMIT = 2000


class _Sequences:
    """Integer arrays, one per row: an arithmetic progression as three numbers, anything else pooled."""

    def __init__(self, rows: int) -> None:
        self.start = np.zeros(rows, np.int64)
        self.step = np.zeros(rows, np.int64)
        self.length = np.zeros(rows, np.int32)
        self.offset = np.full(rows, -1, np.int64)  # -1: a progression; else the row's place in the pool
        self._pending: list[np.ndarray] = []
        self._pooled = 0
        self.pool = np.zeros(0, np.int64)

    def put(self, row: int, values: np.ndarray) -> None:
        values = np.asarray(values, np.int64)
        self.length[row] = values.size
        if values.size == 0:
            return
        self.start[row] = values[0]
        steps = np.diff(values)
        if steps.size == 0 or (steps == steps[0]).all():
            self.step[row] = steps[0] if steps.size else 0
            return
        self.offset[row] = self._pooled
        self._pending.append(values)
        self._pooled += values.size

    def seal(self) -> None:
        self.pool = np.concatenate([self.pool, *self._pending]) if self._pending else self.pool
        self._pending = []

    def get(self, row: int) -> np.ndarray:
        n, offset = int(self.length[row]), int(self.offset[row])
        if offset >= 0:
            return self.pool[offset:offset + n]
        return self.start[row] + self.step[row] * np.arange(n, dtype=np.int64)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.start, self.step, self.length, self.offset, self.pool))


def _probe_or_error(path: str) -> VideoInfo | str:
    try:
        return probe(path)
    except VideoDecodeError as exc:
        return str(exc)


class ProbeTable:
    """The probes of ``paths`` (row ``i`` is ``paths[i]``), made with ``workers`` processes."""

    def __init__(self, paths: Sequence[str], workers: int = 0) -> None:
        rows = len(paths)
        self.paths = paths
        self.num_frames = np.zeros(rows, np.int32)
        self.fps = np.zeros(rows, np.float64)
        self.size = np.zeros((rows, 2), np.int32)  # width, height
        self.by_position = np.zeros(rows, np.bool_)
        self.packed_bframes = np.zeros(rows, np.bool_)
        self.declared_frames = np.zeros(rows, np.int32)
        self.undecoded_vops = np.zeros(rows, np.int32)
        self.demuxer = np.zeros(rows, np.int8)  # index into self.demuxers
        self.demuxers: list[str | None] = []
        self.errors: dict[int, str] = {}
        self.keyframes = _Sequences(rows)
        # by timestamp: every frame's timestamp (a keyframe's seek and frame timestamps are its own);
        # by position: each keyframe's seek timestamp, and in key_pts the timestamp its frame carries
        self.times = _Sequences(rows)
        self.key_pts = _Sequences(rows)
        for row, answer in enumerate(self._probes(paths, workers)):
            self._put(row, answer)
        for column in (self.keyframes, self.times, self.key_pts):
            column.seal()

    @staticmethod
    def _probes(paths: Sequence[str], workers: int):
        if workers <= 1 or len(paths) < SERIAL_LIMIT:
            return map(_probe_or_error, paths)
        # spawned processes: the caller may hold threads or a CUDA context that forking would copy
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        chunks = max(1, len(paths) // (workers * 16))
        return _closing(pool, pool.map(_probe_or_error, paths, chunksize=chunks))

    def _put(self, row: int, info: VideoInfo | str) -> None:
        if isinstance(info, str):
            self.errors[row] = info
            return
        self.num_frames[row], self.fps[row] = info.num_frames, info.fps
        self.size[row] = info.width, info.height
        self.by_position[row], self.packed_bframes[row] = info.by_position, info.packed_bframes
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
        keyframes = self.keyframes.get(row)
        if self.by_position[row]:
            seek_pts, keyframe_pts, pts = self.times.get(row), self.key_pts.get(row), None
        else:
            pts = self.times.get(row)
            seek_pts = keyframe_pts = pts[keyframes]
        width, height = (int(v) for v in self.size[row])
        return VideoInfo(
            str(self.paths[row]), int(self.num_frames[row]), float(self.fps[row]), width, height, keyframes,
            seek_pts, keyframe_pts, pts, packed_bframes=bool(self.packed_bframes[row]),
            declared_frames=int(self.declared_frames[row]), undecoded_vops=int(self.undecoded_vops[row]),
            demuxer=self.demuxers[self.demuxer[row]])

    @property
    def nbytes(self) -> int:
        columns = (self.num_frames, self.fps, self.size, self.by_position, self.packed_bframes,
                   self.declared_frames, self.undecoded_vops, self.demuxer)
        return sum(c.nbytes for c in columns) + sum(s.nbytes for s in (self.keyframes, self.times, self.key_pts))


def _closing(pool: ProcessPoolExecutor, results):
    with pool:
        yield from results
