"""`vssl-bench data ...` commands: functions whose signatures are the command line."""

from __future__ import annotations

from pathlib import Path

from vssl_bench.data.check import check_dataset, write_report
from vssl_bench.data.preview import contact_sheet
from vssl_bench.data.synthetic import SyntheticSpec, generate
from vssl_bench.data.transcode import transcode_tree


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


def transcode(src: str, dst: str, short_side: int = 128, keyframe_interval: int = 16, workers: int | None = None) -> str:
    """Rewrite a dataset for fast loading: every video at short side ``short_side`` with a keyframe every
    ``keyframe_interval`` frames, same relative paths and frame counts, other files copied. Resumable.

    Args:
        src: the dataset's root folder (e.g. UCF-101/ or kinetics400/).
        dst: the new root (point --data_root or the recipe at it instead).
        short_side: output short side in pixels (128 suits 128x171 / 112 crops).
        keyframe_interval: frames between keyframes (small = cheap random access).
        workers: parallel processes (default: every core).
    """
    report = transcode_tree(src, dst, short_side, keyframe_interval, workers)
    print(report.summary())
    if report.failed:
        raise SystemExit(1)
    return str(dst)


def check(dataset: str, root: str, split: int = 1, subset: str = "all", annotations: str | None = None,
          workers: int | None = None, min_frames: int = 16, report: str | None = None) -> None:
    """Open, probe and decode every video the split files list; report unusable files (exit 1 if any).

    Args:
        dataset: ucf101, hmdb51 or kinetics400.
        root: the dataset's folder (e.g. DATA/ucf101 holding the class folders and ucfTrainTestlist/).
        split: official split (UCF101/HMDB51: 1, 2 or 3).
        subset: train, test (Kinetics: val) or all.
        annotations: split-file folder (UCF101/HMDB51) or CSV (Kinetics) if not in the default place.
        workers: parallel processes (default: every core).
        min_frames: videos with fewer frames are listed as short (information: samplers loop them).
        report: also write the findings as JSON here.
    """
    subsets = ["train", "test"] if subset == "all" else [subset]
    result = check_dataset(dataset, root, split=split, subsets=subsets, annotations=annotations,
                           workers=workers, min_frames=min_frames)
    print(result.summary())
    if report:
        print(f"report: {write_report(result, report)}")
    if result.unusable:
        raise SystemExit(1)
