"""`vssl-bench data ...` commands: functions whose signatures are the command line."""

from __future__ import annotations

from pathlib import Path

from vssl_bench.data.check import Mode, check_dataset, write_report
from vssl_bench.data.preview import contact_sheet
from vssl_bench.data.synthetic import SyntheticSpec, generate
from vssl_bench.data.transcode import DEFAULT_PROFILE, ProfileName, transcode_tree


def synth(out: str, preview: str | None = None, seed: int = 0, groups: int = 14, clips_per_group: int = 12,
          test_groups: int = 8, num_frames: int = 64, height: int = 40, width: int = 50,
          workers: int | None = None) -> str:
    """Write the synthetic dataset in the UCF101 layout.

    Args:
        out: folder to write (it receives the class folders and ucfTrainTestlist/).
        preview: also draw a contact sheet PNG (one row per class, named on its left) here.
        seed: generator seed; the same seed gives the same videos.
        groups: UCF101-style groups per class.
        clips_per_group: videos per group.
        test_groups: the first this many groups are the test split.
        num_frames: frames per video (25 fps).
        height: frame height.
        width: frame width.
        workers: processes used to render and encode.
    """
    spec = SyntheticSpec(groups=groups, clips_per_group=clips_per_group, test_groups=test_groups, num_frames=num_frames,
                         height=height, width=width, seed=seed)
    root = generate(Path(out), spec, workers=workers)
    if preview:
        print(f"preview: {contact_sheet(root, preview, labels=True, zoom=2)}")
    return str(root)


def transcode(src: str, dst: str, profile: ProfileName = DEFAULT_PROFILE, short_side: int = 128,
              keyframe_interval: int | None = None, workers: int | None = None) -> str:
    """Rewrite a dataset for fast loading: every video at short side ``short_side``, coded as ``profile``
    says, same relative paths and frame counts, other files copied. Resumable.

    Args:
        src: the dataset's root folder (e.g. UCF-101/ or kinetics400/).
        dst: the new root (point --data_root or the recipe at it instead).
        profile: how the H.264 is coded (README, "Decoding supply"; ``transcode.PROFILES``):
            ``fastdecode`` (the default: x264 tune=fastdecode, 7 non-reference B-frames that reads skip,
            whole-macroblock prediction, a keyframe every 32), ``intra`` (every frame a keyframe: reads
            decode only the frames a sample uses; several times the bytes) or ``gop16`` (a keyframe
            every 16, no B-frames, x264's default coding: the earlier default).
        short_side: output short side in pixels (128 suits 128x171 / 112 crops).
        keyframe_interval: frames between keyframes, overriding the profile's (small = cheap random access).
        workers: parallel processes (default: every core).
    """
    report = transcode_tree(src, dst, short_side, keyframe_interval, workers, profile=profile)
    print(report.summary())
    if report.failed:
        raise SystemExit(1)
    return str(dst)


def check(dataset: str, root: str, split: int = 1, subset: str = "all", annotations: str | None = None,
          workers: int | None = None, min_frames: int = 16, report: str | None = None, mode: Mode = "full",
          cache: str | None = None) -> None:
    """Open, probe and decode every video the split files list; report unusable files (exit 1 if any).

    Args:
        dataset: ucf101, hmdb51 or kinetics400.
        root: the dataset's folder (e.g. DATA/ucf101 holding the class folders and ucfTrainTestlist/).
        split: official split (UCF101/HMDB51: 1, 2 or 3).
        subset: train, test (Kinetics: val) or all.
        annotations: split-file folder (UCF101/HMDB51) or CSV (Kinetics) if not in the default place.
        workers: parallel processes (default: every core held).
        min_frames: videos with fewer frames are listed as short (information: samplers loop them).
        report: also write the findings as JSON here.
        mode: ``full`` decodes every frame; ``fast`` decodes after each keyframe and from the last one
            to the end (see the README for what each finds and costs).
        cache: the probe index folder (default: ``$VSSL_BENCH_CACHE/index`` or ``~/.cache/vssl-bench/index``);
            verdicts are kept there too, so a rerun checks only new or changed files.
    """
    subsets = ["train", "test"] if subset == "all" else [subset]
    result = check_dataset(dataset, root, split=split, subsets=subsets, annotations=annotations,
                           workers=workers, min_frames=min_frames, mode=mode, cache=cache)
    print(result.summary())
    if report:
        print(f"report: {write_report(result, report)}")
    if result.unusable:
        raise SystemExit(1)


def index(dataset: str, root: str, split: int = 1, subset: str = "all", annotations: str | None = None,
          cache: str | None = None, workers: int | None = None, rebuild: bool = False) -> None:
    """Probe every video of the split(s) into the persisted probe index that training reads (e.g. in a
    CPU job before the GPU job). Only new or changed videos are probed; an up-to-date index is left as is.

    Args:
        dataset: ucf101, hmdb51, kinetics400 or synthetic.
        root: the dataset's folder.
        split: official split (UCF101/HMDB51: 1, 2 or 3).
        subset: train, test (Kinetics: val) or all.
        annotations: split-file folder (UCF101/HMDB51) or CSV (Kinetics) if not in the default place.
        cache: the index folder (default: ``$VSSL_BENCH_CACHE/index`` or ``~/.cache/vssl-bench/index``);
            training must read the same one (``--data.index_cache`` or ``VSSL_BENCH_CACHE``).
        workers: probing processes (default: every core held).
        rebuild: probe every video again.
    """
    import time
    import warnings

    from vssl_bench.data import probe_index
    from vssl_bench.data.datasets import build_index

    for part in ["train", "test"] if subset == "all" else [subset]:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*absent under.*")
            videos = build_index(dataset, root, part, split=split, missing="skip", annotations=annotations)
        paths = [p for p, _ in videos.samples]
        if len(paths) < probe_index.PERSIST_MIN:
            print(f"{dataset} {part}: {len(paths)} videos, fewer than {probe_index.PERSIST_MIN}: each process "
                  "probes them in memory (seconds), no index is written")
            continue
        table = probe_index.open_index(paths, cache, workers, rebuild=rebuild)
        file, _, _ = probe_index.index_path(paths, cache)
        built = getattr(table, "built", {})
        size = file.stat().st_size if file.is_file() else 0
        print(f"{dataset} {part}: {len(paths)} videos ({len(videos.absent)} listed but absent), "
              f"{len(table.errors)} unreadable; {file} ({size / len(paths):.1f} B a video); last build probed "
              f"{built.get('probed', '?')} and reused {built.get('reused', '?')} in {built.get('seconds', '?')} s; "
              f"this call {time.perf_counter() - start:.1f} s")
