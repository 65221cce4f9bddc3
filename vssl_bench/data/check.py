"""`vssl-bench data check`: open, probe and decode every video a dataset's split lists.

Two modes. ``full`` decodes every frame of every file. ``fast`` reads the probe (from the persisted
probe index, :mod:`~vssl_bench.data.probe_index`), decodes the first frames after each keyframe
through the same seeks training makes, and everything from the last keyframe to the end, so a cut
download or a broken tail, an unreadable keyframe, a seek that misses and a count that disagrees in
the last keyframe span are all found; what it cannot see is a corrupt packet between two keyframes
(before the last), which only ``full`` decodes. Every file is checked in parallel on every core
held, and each verdict is kept in the index cache keyed by the file's path, size and modification
time (and the mode and ``min_frames``): a rerun checks only what changed (a ``full`` verdict also
answers a ``fast`` check).

A reproduction should not find out in epoch 40 that 2% of its videos are unreadable. This scan reports,
per file, what would go wrong:

unusable (the command exits non-zero):
  ``missing``          listed in the split files / CSV but not on disk
  ``unopenable``       FFmpeg cannot open it (not a video, corrupt header)
  ``no_video_stream``  a container without a video stream (audio only, subtitles)
  ``zero_frames``      a video stream without a single frame
  ``truncated``        decoding stops before the frames its packets hold (a corrupt packet), or the
                       header promises more than one frame beyond what decodes (a cut download)
  ``frame_mismatch``   decodes more frames than the probe counts: frame-exact reading is not possible

information (the file is read correctly):
  ``short``            fewer frames than ``min_frames``; the samplers loop such videos, as the
                       papers' code does, so the clip repeats frames
  ``packed_bframes``   DivX packed B-frames (UCF101/HMDB51); read exactly through FFmpeg's
                       ``mpeg4_unpack_bframes`` filter. A packed VOP left at the very end never reaches
                       the decoder (see :mod:`vssl_bench.data.mpeg4`); it is not counted as a frame
  ``header_count``     the container header's frame count is one off the decoder's (packed AVIs: one
                       above when the stream ends with an N-VOP); the decoder's count is used
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import av
import numpy as np

from vssl_bench.data import probe_index
from vssl_bench.data.datasets import VideoIndex, build_index
from vssl_bench.data.decode import VideoInfo, count_decoded_frames, probe, read_frames
from vssl_bench.data.probe_table import held_cores
from vssl_bench.errors import ConfigError, VideoDecodeError

Mode = Literal["fast", "full"]
MODES = {"fast": 1, "full": 2}  # a verdict answers a check of its mode or a lower one

UNUSABLE = ("missing", "unopenable", "no_video_stream", "zero_frames", "truncated", "frame_mismatch")
INFORMATION = ("short", "packed_bframes", "header_count")
HEADER_SLACK = 1  # frames a header may count beyond the decoder's before the file counts as cut


@dataclass
class Finding:
    path: str
    kind: str
    detail: str


@dataclass
class CheckReport:
    dataset: str
    root: str
    split: int
    subsets: list[str]
    files: int = 0
    seconds: float = 0.0
    mode: str = "full"
    cached: int = 0  # verdicts read from the cache, not checked again
    findings: list[Finding] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(f.kind for f in self.findings))

    @property
    def unusable(self) -> list[Finding]:
        return [f for f in self.findings if f.kind in UNUSABLE]

    def summary(self) -> str:
        rate = self.files / self.seconds if self.seconds else 0.0
        lines = [f"{self.dataset} ({', '.join(self.subsets)}, split {self.split}) under {self.root}: "
                 f"{self.files} files checked ({self.mode}) in {self.seconds:.1f} s ({rate:.1f} files/s; "
                 f"{self.cached} verdicts from the cache)"]
        counts = self.counts
        for kind in UNUSABLE + INFORMATION:
            if counts.get(kind):
                tag = "unusable" if kind in UNUSABLE else "info"
                lines.append(f"  {kind:<16} {counts[kind]:>6}  ({tag})")
                for finding in [f for f in self.findings if f.kind == kind][:5]:
                    lines.append(f"      {finding.path}: {finding.detail}")
        lines.append(f"{len(self.unusable)} unusable file(s)" + (": fix or remove them before a reproduction "
                     "(or set `missing: skip` for absent ones)." if self.unusable else "."))
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {"dataset": self.dataset, "root": self.root, "split": self.split, "subsets": self.subsets,
                "mode": self.mode, "cached": self.cached, "files": self.files, "seconds": round(self.seconds, 2),
                "files_per_s": round(self.files / self.seconds, 2) if self.seconds else None,
                "counts": self.counts, "unusable": len(self.unusable),
                "findings": [asdict(f) for f in self.findings]}


def _probe_failure(path: str, message: str) -> Finding:
    if "no video stream" in message:
        return Finding(path, "no_video_stream", message)
    if "no video frames" in message:
        return Finding(path, "zero_frames", message)
    return Finding(path, "unopenable", message)


def _sampled_count(info: VideoInfo) -> tuple[int, str | None]:
    """``fast``: the frames after each keyframe, read as training reads them, and a decode from the last
    keyframe to the end; the count assumes the spans before the last decode as the probe names them."""
    keyframes = info.keyframes.tolist()
    starts = sorted({k for k in keyframes} | {min(k + 1, info.num_frames - 1) for k in keyframes})
    try:
        read_frames(info.path, starts, (16, 16), info=info)
    except VideoDecodeError as exc:
        return 0, str(exc)
    try:
        return count_decoded_frames(info, from_keyframe=len(keyframes) - 1)
    except VideoDecodeError as exc:
        return int(keyframes[-1]), str(exc)


def check_video(path: str, min_frames: int = 16, mode: Mode = "full", info: VideoInfo | None = None) -> list[Finding]:
    """Every problem of one file (empty: the file is fine). ``info``: its probe, if known already."""
    if not os.path.isfile(path):
        return [Finding(path, "missing", "not on disk")]
    if info is None:
        try:
            with av.open(path) as container:
                if not container.streams.video:
                    kinds = ", ".join(s.type for s in container.streams) or "none"
                    return [Finding(path, "no_video_stream", f"streams: {kinds}")]
        except (av.FFmpegError, UnicodeDecodeError) as exc:
            return [Finding(path, "unopenable", str(exc))]
        try:
            info = probe(path)
        except VideoDecodeError as exc:
            return [_probe_failure(path, str(exc))]
    decoded, error = count_decoded_frames(info) if mode == "full" else _sampled_count(info)
    findings = []
    why = f" ({error})" if error else ""
    if decoded < info.num_frames:
        findings.append(Finding(path, "truncated", f"decodes {decoded} of the {info.num_frames} frames its "
                                                   f"packets hold{why}"))
    elif info.declared_frames > decoded + HEADER_SLACK:
        findings.append(Finding(path, "truncated", f"its header counts {info.declared_frames} frames, its packets "
                                                   f"decode to {decoded}: the file is cut{why}"))
    elif decoded > info.num_frames:
        findings.append(Finding(path, "frame_mismatch", f"decodes {decoded} frames, the probe counts {info.num_frames}"))
    elif info.declared_frames and info.declared_frames != decoded:
        findings.append(Finding(path, "header_count", f"header counts {info.declared_frames} frames, the decoder "
                                                      f"outputs {decoded} (the count used)"))
    if 0 < decoded < min_frames:
        findings.append(Finding(path, "short", f"{decoded} frames < {min_frames}"))
    if info.packed_bframes:
        tail = (f"; {info.undecoded_vops} coded VOP(s) the decoder never outputs, not counted"
                if info.undecoded_vops else "")
        findings.append(Finding(path, "packed_bframes", f"DivX packed B-frames (read exactly){tail}"))
    return findings


def _check_one(args: tuple[str, int, str, VideoInfo]) -> list[Finding]:
    path, min_frames, mode, info = args
    return check_video(path, min_frames, mode, info)  # type: ignore[arg-type]


def _indexes(dataset: str, root: str, split: int, subsets: list[str], annotations: str | None) -> list[VideoIndex]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # absent files are reported by the check, one finding each
        return [build_index(dataset, root, subset, split=split, missing="skip", annotations=annotations)
                for subset in subsets]


def listed_videos(dataset: str, root: str, split: int, subsets: list[str], annotations: str | None) -> list[str]:
    """Every path the split files (or the Kinetics CSV / class folders) list, present or not."""
    paths: list[str] = []
    for index in _indexes(dataset, root, split, subsets, annotations):
        paths += [p for p, _ in index.samples] + index.absent
    return list(dict.fromkeys(paths))


class Verdicts:
    """``data check``'s verdicts on the files under one root, kept beside the probe indexes
    (``<root hash>.verdicts.npz``), keyed by path hash, size, modification time, mode and min_frames."""

    def __init__(self, folder: Path, root: str) -> None:
        self.path = folder / f"{probe_index.root_tag(root)}.verdicts.npz"
        self.known: dict[int, tuple[int, int, int, int, list]] = self._read()
        self.new: dict[int, tuple[int, int, int, int, list]] = {}

    def _read(self) -> dict[int, tuple[int, int, int, int, list]]:
        try:
            with np.load(self.path) as f:
                findings = json.loads(str(f["findings"]))
                columns = [f[name].tolist() for name in ("path_hash", "file_size", "mtime_ns", "mode", "min_frames")]
        except (OSError, ValueError, KeyError):
            return {}  # none yet, or unreadable: check again
        return {h: (s, m, mode, mf, findings.get(str(i), []))
                for i, (h, s, m, mode, mf) in enumerate(zip(*columns))}

    def get(self, key: tuple[int, int, int], mode: int, min_frames: int) -> list[Finding] | None:
        entry = self.known.get(key[0])
        if entry is None or entry[:2] != key[1:] or entry[2] < mode or entry[3] != min_frames:
            return None
        return [Finding(*f) for f in entry[4]]

    def put(self, key: tuple[int, int, int], mode: int, min_frames: int, findings: list[Finding]) -> None:
        if key[1] >= 0:  # a file that could be stat'ed
            self.new[key[0]] = (key[1], key[2], mode, min_frames, [[f.path, f.kind, f.detail] for f in findings])

    def save(self) -> None:
        if not self.new:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with probe_index.exclusive(self.path.with_name(self.path.name + ".lock"), "writing check verdicts"):
                merged = {**self._read(), **self.new}
                hashes = list(merged)
                rows = [merged[h] for h in hashes]
                tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp.npz")
                np.savez(tmp, path_hash=np.asarray(hashes, np.uint64),
                         file_size=np.asarray([r[0] for r in rows], np.int64),
                         mtime_ns=np.asarray([r[1] for r in rows], np.int64),
                         mode=np.asarray([r[2] for r in rows], np.uint8),
                         min_frames=np.asarray([r[3] for r in rows], np.int32),
                         findings=np.asarray(json.dumps({str(i): r[4] for i, r in enumerate(rows) if r[4]})))
                os.replace(tmp, self.path)
        except OSError as exc:
            warnings.warn(f"cannot keep the check's verdicts in {self.path} ({exc}); a rerun checks every file.",
                          stacklevel=2)
        self.known.update(self.new)
        self.new = {}


def check_dataset(dataset: str, root: str, split: int = 1, subsets: list[str] | None = None,
                  annotations: str | None = None, workers: int | None = None, min_frames: int = 16,
                  progress: bool = True, mode: Mode = "full", cache: str | None = None) -> CheckReport:
    if mode not in MODES:
        raise ConfigError(f"mode={mode!r}: use fast or full.")
    subsets = subsets or ["train", "test"]
    start = time.perf_counter()
    workers = workers or held_cores()
    indexes = _indexes(dataset, root, split, subsets, annotations)
    report = CheckReport(dataset, str(root), split, subsets, mode=mode)
    jobs: list[tuple[str, int, str, VideoInfo]] = []
    keys: dict[str, tuple[int, int, int]] = {}
    seen: set[str] = set()
    verdicts: Verdicts | None = None
    for index in indexes:
        for path in index.absent:
            if path not in seen:
                seen.add(path)
                report.findings.append(Finding(path, "missing", "not on disk"))
        paths = [p for p, _ in index.samples]
        if not paths:
            continue
        table = index.probes(workers, cache)  # the persisted index, built here if needed
        sizes, mtimes = probe_index.file_stats(paths)
        hashes = probe_index.path_hashes(paths)
        if verdicts is None:
            verdicts = Verdicts(probe_index.index_folder(cache), probe_index.common_root(paths))
        for row, path in enumerate(paths):
            if path in seen:
                continue
            seen.add(path)
            key = keys[path] = (int(hashes[row]), int(sizes[row]), int(mtimes[row]))
            known = verdicts.get(key, MODES[mode], min_frames)
            if known is not None:
                report.findings += known
                report.cached += 1
                continue
            try:
                info = table.info(row)
            except VideoDecodeError as exc:
                findings = [_probe_failure(path, str(exc))]
                verdicts.put(key, MODES["full"], min_frames, findings)
                report.findings += findings
                continue
            jobs.append((path, min_frames, mode, info))
    report.files = len(seen)
    try:
        for (path, *_), findings in zip(jobs, _run(jobs, workers, progress, dataset)):
            report.findings += findings
            assert verdicts is not None
            verdicts.put(keys[path], MODES[mode], min_frames, findings)
    finally:
        if verdicts is not None:
            verdicts.save()  # what was checked stays checked, even after Ctrl-C
    report.seconds = time.perf_counter() - start
    return report


def _run(jobs: list, workers: int, progress: bool, dataset: str) -> Iterator[list[Finding]]:
    if workers <= 1 or len(jobs) < 2:
        results: Iterator[list[Finding]] = map(_check_one, jobs)
        pool = None
    else:
        # spawned, not forked: a fork would copy this process's FFmpeg and loader threads mid-lock
        pool = ProcessPoolExecutor(min(workers, len(jobs)), mp_context=multiprocessing.get_context("spawn"))
        results = pool.map(_check_one, jobs, chunksize=max(1, min(32, len(jobs) // (workers * 8))))
    try:
        if progress and jobs:
            from tqdm import tqdm

            results = tqdm(results, total=len(jobs), desc=f"checking {dataset}", unit="file")
        yield from results
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def write_report(report: CheckReport, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_json(), indent=2))
    return path
