"""`vssl-bench data check`: open, probe and fully decode every video a dataset's split lists.

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
import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av

from vssl_bench.data.datasets import build_index
from vssl_bench.data.decode import count_decoded_frames, probe
from vssl_bench.errors import VideoDecodeError

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
                 f"{self.files} files checked in {self.seconds:.1f} s ({rate:.1f} files/s)"]
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
                "files": self.files, "seconds": round(self.seconds, 2),
                "files_per_s": round(self.files / self.seconds, 2) if self.seconds else None,
                "counts": self.counts, "unusable": len(self.unusable),
                "findings": [asdict(f) for f in self.findings]}


def check_video(path: str, min_frames: int = 16) -> list[Finding]:
    """Every problem of one file (empty: the file is fine)."""
    if not os.path.isfile(path):
        return [Finding(path, "missing", "not on disk")]
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
        kind = "zero_frames" if "no video frames" in str(exc) else "unopenable"
        return [Finding(path, kind, str(exc))]
    decoded, error = count_decoded_frames(info)
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


def _check_one(args: tuple[str, int]) -> list[Finding]:
    return check_video(*args)


def listed_videos(dataset: str, root: str, split: int, subsets: list[str], annotations: str | None) -> list[str]:
    """Every path the split files (or the Kinetics CSV / class folders) list, present or not."""
    paths: list[str] = []
    for subset in subsets:
        index = build_index(dataset, root, subset, split=split, missing="skip", annotations=annotations)
        paths += [p for p, _ in index.samples] + index.absent
    return list(dict.fromkeys(paths))


def check_dataset(dataset: str, root: str, split: int = 1, subsets: list[str] | None = None,
                  annotations: str | None = None, workers: int | None = None, min_frames: int = 16,
                  progress: bool = True) -> CheckReport:
    import warnings

    subsets = subsets or ["train", "test"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # absent files are reported below, one finding each
        paths = listed_videos(dataset, root, split, subsets, annotations)
    report = CheckReport(dataset, str(root), split, subsets, files=len(paths))
    workers = workers or len(os.sched_getaffinity(0))
    start = time.perf_counter()
    jobs = [(p, min_frames) for p in paths]
    if workers <= 1:
        results = map(_check_one, jobs)
        pool = None
    else:
        pool = ProcessPoolExecutor(workers)
        results = pool.map(_check_one, jobs, chunksize=8)
    try:
        if progress:
            from tqdm import tqdm

            results = tqdm(results, total=len(jobs), desc=f"checking {dataset}", unit="file")
        for findings in results:
            report.findings += findings
    finally:
        if pool is not None:
            pool.shutdown()
    report.seconds = time.perf_counter() - start
    return report


def write_report(report: CheckReport, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_json(), indent=2))
    return path
