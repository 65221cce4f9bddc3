"""The probe table persisted: every video of a dataset probed once, read by every rank, stage and run.

A Kinetics-400 training list has ~240k videos, and probing them takes minutes of every core (reading
each file's packets, ~3 CPU-ms a clip). Rather than paying that in every stage, on every DDP rank, for
every seed, cell, resume and requeue, the table a dataset needs is written once to a file and
memory-mapped after that, so every process on a machine (ranks, their loader workers) shares one copy
in the page cache.

Where: one file per video list in the index cache folder, ``$VSSL_BENCH_CACHE/index`` (else
``$XDG_CACHE_HOME/vssl-bench/index``, else ``~/.cache/vssl-bench/index``), or the folder given as the
data module's ``index_cache`` / ``vssl-bench data index --cache``. Never inside the dataset, which may
be shared and read-only, unless that folder is given. The file is named by the list's folder (its
resolved common root) and a hash of the ordered list of paths: ``<root hash>-<list hash>.probes``.

What: per video its path's hash, size and modification time (the key) and the probe's columns
(:class:`~vssl_bench.data.probe_table.ProbeTable`: ~114 bytes for a constant-frame-rate file), after a
header holding the format version, the column layout, the failed probes' messages and CRC-32
checksums of the header and the data.

Trust: a file is used only when its header and data checksums hold and every video's size and
modification time (``os.stat``, following links) equal those it was probed with. A corrupt or
truncated file, one from another format version, or one whose videos changed is rebuilt with a
warning. A rebuild is incremental: rows whose (path, size, mtime) match those of the old file, or of
any other index of the same root (the other subset, another split, the list before videos were
added), are copied; only new or changed videos are probed.

Who builds: one process at a time per file, holding an exclusive ``flock`` on ``<file>.lock``; it
probes with every core it holds while the others wait on the lock, then all memory-map the result.
This needs no process group, so it works before Lightning sets one up and across unrelated jobs
sharing the cache (on a cluster file system whose locks span nodes, once per cluster; otherwise once
per node). Files are written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import struct
import sys
import time
import warnings
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vssl_bench.data.probe_table import SERIAL_LIMIT, ProbeTable, held_cores, probe_paths

FORMAT_VERSION = 1
MAGIC = b"VSSLPIDX"
PREFIX = struct.Struct("<8sIII")  # magic, format version, header length, header CRC-32
ALIGN = 64
SUFFIX = ".probes"
# lists shorter than this are probed in memory, as before (a small dataset probes in seconds and
# decode's per-process cache serves the stages of one process); longer ones are persisted
PERSIST_MIN = 2000
KEYS = {"path_hash": np.uint64, "file_size": np.int64, "mtime_ns": np.int64}


def cache_root() -> Path:
    """The package's cache folder: ``$VSSL_BENCH_CACHE``, else ``$XDG_CACHE_HOME/vssl-bench``, else
    ``~/.cache/vssl-bench``."""
    if os.environ.get("VSSL_BENCH_CACHE"):
        return Path(os.environ["VSSL_BENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vssl-bench"


def index_folder(cache: str | os.PathLike | None = None) -> Path:
    """Where probe indexes live: ``cache`` if given, else ``<cache_root()>/index``."""
    return Path(cache) if cache else cache_root() / "index"


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


def root_tag(root: str) -> str:
    """The short hash that names a root's files in the cache (its indexes, its check verdicts)."""
    return _digest(root)[:16]


def common_root(paths: Sequence[str]) -> str:
    """The resolved folder every path lies under (the lexicographic extremes bound the common prefix)."""
    prefix = os.path.commonprefix([min(paths), max(paths)])
    folder = prefix if prefix.endswith(os.sep) else os.path.dirname(prefix)
    return os.path.realpath(folder or ".")


def path_hashes(paths: Sequence[str]) -> np.ndarray:
    blake = hashlib.blake2b
    return np.fromiter((int.from_bytes(blake(p.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "little")
                        for p in paths), np.uint64, len(paths))


def _stat_chunk(paths: Sequence[str]) -> tuple[list[int], list[int]]:
    sizes, mtimes = [], []
    for path in paths:
        try:
            st = os.stat(path)
            sizes.append(st.st_size)
            mtimes.append(st.st_mtime_ns)
        except OSError:
            sizes.append(-1)
            mtimes.append(-1)
    return sizes, mtimes


def file_stats(paths: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each path's size and modification time in ns (-1, -1 where it cannot be stat'ed). Threads for
    long lists: on a network file system each stat waits on a round trip."""
    step = 8192
    chunks = [paths[i:i + step] for i in range(0, len(paths), step)]
    if len(chunks) > 1:
        with ThreadPoolExecutor(min(16, len(chunks))) as pool:
            parts = list(pool.map(_stat_chunk, chunks))
    else:
        parts = [_stat_chunk(c) for c in chunks]
    sizes = np.fromiter((s for part in parts for s in part[0]), np.int64, len(paths))
    mtimes = np.fromiter((m for part in parts for m in part[1]), np.int64, len(paths))
    return sizes, mtimes


class CorruptIndex(Exception):
    """A probe index file that cannot be trusted (the message says why)."""


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def write_index(path: Path, columns: dict[str, np.ndarray], meta: dict) -> None:
    """``columns`` and ``meta`` to ``path``, atomically (a temporary file in the same folder, renamed)."""
    layout, offset, crc = {}, 0, 0
    arrays = {name: np.ascontiguousarray(a) for name, a in columns.items()}
    for name, array in arrays.items():
        start = _aligned(offset)
        crc = zlib.crc32(b"\0" * (start - offset), crc)
        crc = zlib.crc32(memoryview(array).cast("B"), crc) if array.size else crc
        layout[name] = [array.dtype.str, list(array.shape), start]
        offset = start + array.nbytes
    header = json.dumps({**meta, "columns": layout, "data_size": offset, "data_crc": crc}).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(PREFIX.pack(MAGIC, FORMAT_VERSION, len(header), zlib.crc32(header)))
            f.write(header)
            written = PREFIX.size + len(header)
            base = _aligned(written)
            f.write(b"\0" * (base - written))
            for name, array in arrays.items():
                f.seek(base + layout[name][2])
                f.write(memoryview(array).cast("B") if array.size else b"")
            f.truncate(base + offset)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_index(path: Path, verify: bool = True) -> tuple[dict, dict[str, np.ndarray]]:
    """The header and memory-mapped columns of ``path``; :class:`CorruptIndex` if it cannot be trusted
    (``verify``: check the data's checksum too, a pass over the file)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        prefix = f.read(PREFIX.size)
        if len(prefix) < PREFIX.size:
            raise CorruptIndex(f"truncated to {size} bytes")
        magic, version, header_len, header_crc = PREFIX.unpack(prefix)
        if magic != MAGIC:
            raise CorruptIndex("not a probe index (bad magic bytes)")
        if version != FORMAT_VERSION:
            raise CorruptIndex(f"format version {version}, this version of vssl-bench reads {FORMAT_VERSION}")
        header = f.read(header_len)
    if len(header) < header_len or zlib.crc32(header) != header_crc:
        raise CorruptIndex("its header fails its checksum")
    meta = json.loads(header)
    base = _aligned(PREFIX.size + header_len)
    if size != base + meta["data_size"]:
        raise CorruptIndex(f"{size} bytes where its header promises {base + meta['data_size']} (truncated?)")
    data = np.memmap(path, np.uint8, "r", offset=base, shape=(meta["data_size"],)) if meta["data_size"] else \
        np.zeros(0, np.uint8)
    if verify and zlib.crc32(data) != meta["data_crc"]:
        raise CorruptIndex("its data fails its checksum")
    columns = {}
    for name, (dtype, shape, start) in meta["columns"].items():
        dtype = np.dtype(dtype)
        count = int(np.prod(shape))
        columns[name] = data[start:start + count * dtype.itemsize].view(dtype).reshape(shape)
    return meta, columns


class IndexedTable(ProbeTable):
    """A probe table whose columns are memory-mapped from its index file (``source``). Pickling it (for
    spawned loader workers) sends the file's name, not the columns: the receiver maps the same pages."""

    source: Path
    key: dict[str, np.ndarray]
    built: dict

    @classmethod
    def load(cls, path: Path, paths: Sequence[str], verify: bool = True) -> IndexedTable:
        meta, columns = read_index(path, verify)
        if meta["rows"] != len(paths):
            raise CorruptIndex(f"{meta['rows']} rows for a list of {len(paths)} videos")
        table = cls.from_columns(paths, columns, meta["demuxers"], {int(r): e for r, e in meta["errors"].items()})
        table.source, table.key = path, {name: columns[name] for name in KEYS}
        table.built = meta.get("built", {})
        return table

    def __getstate__(self) -> dict:
        return {"source": self.source, "paths": self.paths}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(IndexedTable.load(state["source"], state["paths"], verify=False).__dict__)


@dataclass
class _Found:
    table: IndexedTable | None = None  # the file's table, if it could be read
    problem: str | None = None  # why it cannot be used as it is (None: it can)


def _examine(path: Path, paths: Sequence[str], list_hash: str, sizes: np.ndarray, mtimes: np.ndarray) -> _Found:
    if not path.is_file():
        return _Found(problem="absent")
    try:
        table = IndexedTable.load(path, paths)
    except (CorruptIndex, OSError, ValueError, KeyError) as exc:
        return _Found(problem=f"{path} is corrupt ({exc})")
    if table.built.get("list_hash") != list_hash:
        return _Found(problem=f"{path} was written for another list of videos")
    changed = np.flatnonzero((table.key["file_size"] != sizes) | (table.key["mtime_ns"] != mtimes))
    if changed.size:
        first = ", ".join(paths[i] for i in changed[:3])
        return _Found(table, f"{changed.size} of {len(paths)} videos changed since {path} was written "
                             f"(first: {first})")
    return _Found(table)


@contextmanager
def exclusive(lock: Path, what: str) -> Iterator[None]:
    with open(lock, "a+b") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another process to finish {what} ({lock})", file=sys.stderr, flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _siblings(path: Path, paths: Sequence[str]) -> Iterator[IndexedTable]:
    """Readable indexes of the same root as ``path`` (other subsets, splits, earlier lists)."""
    tag = path.name.split("-")[0]
    for other in sorted(path.parent.glob(f"{tag}-*{SUFFIX}")):
        if other != path:
            try:
                meta, columns = read_index(other)
            except (CorruptIndex, OSError, ValueError, KeyError):
                continue
            table = IndexedTable.from_columns([""] * meta["rows"], columns, meta["demuxers"],
                                              {int(r): e for r, e in meta["errors"].items()})
            table.key = {name: columns[name] for name in KEYS}
            yield table


def _reuse(table: ProbeTable, todo: np.ndarray, candidate: IndexedTable, hashes: np.ndarray,
           sizes: np.ndarray, mtimes: np.ndarray) -> np.ndarray:
    """Copy ``candidate``'s rows whose (path hash, size, mtime) equal those of rows ``todo`` of ``table``;
    returns the rows still to probe."""
    if not todo.size or not len(candidate):
        return todo
    theirs = candidate.key["path_hash"]
    order = np.argsort(theirs, kind="stable")
    position = np.minimum(np.searchsorted(theirs[order], hashes[todo]), len(order) - 1)
    src = order[position]
    match = ((theirs[src] == hashes[todo]) & (candidate.key["file_size"][src] == sizes[todo])
             & (candidate.key["mtime_ns"][src] == mtimes[todo]) & (sizes[todo] >= 0))
    table.copy_rows(candidate, src[match], todo[match])
    return todo[~match]


def _progress(answers, total: int, quiet: bool):
    if quiet or total < SERIAL_LIMIT:
        return answers
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    return tqdm(answers, total=total, desc="probing videos", unit="video", file=sys.stderr,
                mininterval=0.5 if tty else 30, smoothing=0.1)


def _build(path: Path, paths: Sequence[str], list_hash: str, root: str, sizes: np.ndarray, mtimes: np.ndarray,
           reusable: list[IndexedTable], workers: int | None, quiet: bool) -> None:
    start = time.perf_counter()
    hashes = path_hashes(paths)
    table = ProbeTable.blank(paths)
    todo = np.arange(len(paths))
    for candidate in [*reusable, *_siblings(path, paths)]:
        todo = _reuse(table, todo, candidate, hashes, sizes, mtimes)
    workers = held_cores() if workers is None else workers
    answers = probe_paths([paths[i] for i in todo.tolist()], workers)
    table.fill(todo.tolist(), _progress(answers, todo.size, quiet))
    table.seal()
    built = {"list_hash": list_hash, "root": root, "probed": int(todo.size), "reused": int(len(paths) - todo.size),
             "workers": workers, "seconds": round(time.perf_counter() - start, 2), "written": time.time()}
    meta = {"rows": len(paths), "demuxers": table.demuxers, "errors": {str(r): e for r, e in table.errors.items()},
            "built": built}
    keys = {"path_hash": hashes, "file_size": sizes, "mtime_ns": mtimes}
    write_index(path, {**keys, **table.columns()}, meta)


def index_path(paths: Sequence[str], cache: str | os.PathLike | None = None) -> tuple[Path, str, str]:
    """The index file of ``paths`` in ``cache``, the list's hash and its resolved root."""
    root = common_root(paths)
    list_hash = _digest("\0".join(paths))
    return index_folder(cache) / f"{root_tag(root)}-{list_hash[:16]}{SUFFIX}", list_hash, root


def open_index(paths: Sequence[str], cache: str | os.PathLike | None = None, workers: int | None = None,
               rebuild: bool = False, quiet: bool = False) -> ProbeTable:
    """The probe table of ``paths``, read from its index file, built (or brought up to date) first if
    needed: by this process with ``workers`` processes (``None``: every core it holds), or by another
    one this process waits for. ``rebuild``: probe every video again. A cache folder that cannot be
    written gives a warning and a table probed in memory."""
    if not paths:
        return ProbeTable(paths)
    path, list_hash, root = index_path(paths, cache)
    sizes, mtimes = file_stats(paths)
    found = _Found(problem="rebuild asked") if rebuild else _examine(path, paths, list_hash, sizes, mtimes)
    if found.problem is None:
        return found.table
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive(path.with_name(path.name + ".lock"), f"the probe index of {len(paths)} videos"):
            if not rebuild:  # another process may have built it while this one waited
                found = _examine(path, paths, list_hash, sizes, mtimes)
                if found.problem is None:
                    return found.table
                if found.problem != "absent":
                    warnings.warn(f"probe index: {found.problem}; rebuilding it (only new or changed videos "
                                  "are probed).", stacklevel=2)
            _build(path, paths, list_hash, root, sizes, mtimes, [found.table] if found.table and not rebuild else [],
                   workers, quiet)
            return IndexedTable.load(path, paths)
    except OSError as exc:
        warnings.warn(f"cannot write the probe index in {path.parent} ({exc}); probing {len(paths)} videos in "
                      "memory for this process only. Point VSSL_BENCH_CACHE or the data module's index_cache "
                      "at a writable folder.", stacklevel=2)
        return ProbeTable(paths, workers)
