"""`vssl-bench data ...` commands: functions whose signatures are the command line."""

from __future__ import annotations

from pathlib import Path

from vssl_bench.data.synthetic import SyntheticSpec, contact_sheet, generate


def synth(out: str, preview: str | None = None, seed: int = 0, groups: int = 8, clips_per_group: int = 6,
          num_frames: int = 80, height: int = 48, width: int = 60, workers: int | None = None) -> str:
    """Write the synthetic dataset in the UCF101 layout.

    Args:
        out: folder to write (it receives the class folders and ucfTrainTestlist/).
        preview: also draw a contact sheet PNG (one row per class) here.
        seed: generator seed; the same seed gives the same videos.
        groups: UCF101-style groups per class (the first two are the test split).
        clips_per_group: videos per group.
        num_frames: frames per video (25 fps).
        height: frame height.
        width: frame width.
        workers: processes used to render and encode.
    """
    spec = SyntheticSpec(groups=groups, clips_per_group=clips_per_group, num_frames=num_frames,
                         height=height, width=width, seed=seed)
    root = generate(Path(out), spec, workers=workers)
    if preview:
        print(f"preview: {contact_sheet(root, preview)}")
    return str(root)
