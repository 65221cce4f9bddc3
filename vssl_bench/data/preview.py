"""The synthetic dataset's preview (``vssl-bench data synth --preview``): a contact sheet of its classes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vssl_bench.data.datasets import UCF101
from vssl_bench.data.decode import probe, read_frames


def contact_sheet(root: str | os.PathLike, out_png: str | os.PathLike, frames_per_video: int = 6,
                  labels: bool = False, zoom: int = 1) -> Path:
    """A PNG with one row per class: evenly spaced frames of that class's first training video;
    ``labels`` writes each row's class name in a margin on its left, ``zoom`` enlarges the frames."""
    index = UCF101(root, split=1, subset="train")
    first: dict[int, str] = {}
    for path, label in index.samples:
        first.setdefault(label, path)
    rows = []
    for label in range(len(index.classes)):
        n = probe(first[label]).num_frames
        picks = np.linspace(0, n - 1, frames_per_video).round().astype(int)
        clip = read_frames(first[label], picks).numpy()
        rows.append(np.concatenate(list(clip), axis=1))
    sheet = np.concatenate(rows, axis=0).repeat(zoom, axis=0).repeat(zoom, axis=1)
    image = Image.fromarray(sheet)
    if labels:
        margin, height = 110, sheet.shape[0] // len(rows)
        labelled = Image.new("RGB", (image.width + margin, image.height), "white")
        labelled.paste(image, (margin, 0))
        draw = ImageDraw.Draw(labelled)
        for label, name in enumerate(index.classes):
            draw.text((4, label * height + height // 2 - 5), name, fill="black")
        image = labelled
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    image.save(out_png)
    return out_png
