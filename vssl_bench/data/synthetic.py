"""Procedural action videos, written as real MPEG-4 ``.avi`` files in the UCF101 layout.

A class is how fast things move: four natural speed bands an octave apart (about 0.4, 0.8, 1.6 and
3.2 pixels per frame, each video within 15% of its band), named Crawl, Walk, Run and Sprint. Everything
else is nuisance drawn per video, independently of the class: the object's shape (square, triangle or
bar), colour, size, start and direction of travel (right, left, down or up), a textured background of
random colour and contrast, and per-frame sensor noise.

Why this design (README, "The quick scale", has the measurements): the four methods learn playback
speed, so the classes differ by the one thing all of them learn, and by nothing a network sees at
random initialisation. A random-init network summarises appearance, and its linear probe stays near
chance (25%); a network that learnt to perceive speed reads the class. Designs whose classes differed
by motion pattern (direction, kind, axis) at one shared speed were measured first: the methods learnt
their pretexts there too, but their features separated the classes no better than random init. A
slow video played at 2x moves like the next band at 1x, so a pace or rate must be judged from the
video itself; the bands are an octave apart so that each method's 2x is exactly that ambiguity.

The generator is deterministic from its spec and writes ``classInd.txt``, ``trainlist01.txt`` and
``testlist01.txt`` (CRLF line endings, like the official files) so the UCF101 reader reads it unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

SHAPES = ("Square", "Triangle", "Bar")  # nuisance: drawn per video
DIRECTIONS = ((1, 0), (-1, 0), (0, 1), (0, -1))  # nuisance: right, left, down, up
SPEEDS = {"Crawl": 0.4, "Walk": 0.8, "Run": 1.6, "Sprint": 3.2}  # the classes: pixels per frame


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate. The defaults write 672 videos (288 train, 384 test) in about 30 seconds on
    2 cores. The test split is the larger one: it is what the showcase compares methods on, and
    384 videos keep the sampling error of a test accuracy near 2 points at 4 classes."""

    groups: int = 14  # UCF101-style groups gXX; the first ``test_groups`` are the test split
    clips_per_group: int = 12
    test_groups: int = 8
    num_frames: int = 72  # PRP at rate 8 asks for 8 x 8 + 1 frames (the official loader reads one more)
    height: int = 40
    width: int = 50
    fps: int = 25
    seed: int = 0
    object_size: tuple[float, float] = (0.16, 0.24)  # half-size range, as a fraction of the height
    clutter: float = 30.0  # amplitude of the background gratings (0 = flat background)
    noise: float = 6.0  # std of the per-frame sensor noise
    speed_jitter: float = 0.15  # a video's speed: its band's, times a factor within 1 +- this

    @property
    def classes(self) -> list[str]:
        return list(SPEEDS)

    def key(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


def default_cache_dir() -> Path:
    return Path(os.environ.get("VSSL_BENCH_CACHE", Path.home() / ".cache" / "vssl-bench"))


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: int = 25, codec: str | None = None,
                gop: int = 12, quality: int = 3) -> None:
    """Write uint8 ``(T, H, W, 3)`` RGB frames: MPEG-4 part 2 for ``.avi`` (as UCF101/HMDB51),
    H.264 with B-frames for ``.mp4`` (as Kinetics). ``gop`` is the keyframe interval."""
    path = str(path)
    codec = codec or ("libx264" if path.endswith(".mp4") else "mpeg4")
    with av.open(path, mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = int(frames.shape[2]), int(frames.shape[1])
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        if codec == "libx264":
            stream.options = {"crf": "18", "preset": "veryfast", "bf": "2"}
        else:
            stream.codec_context.qscale = quality
            stream.codec_context.flags |= av.codec.context.Flags.qscale
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(stream.encode(None))


def _polygon(shape: str, size: float) -> np.ndarray:
    if shape == "Square":
        pts = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
    elif shape == "Triangle":
        pts = [(0, -1.3), (1.15, 0.8), (-1.15, 0.8)]
    else:  # Bar: long and thin, so its orientation is obvious
        pts = [(-1.6, -0.45), (1.6, -0.45), (1.6, 0.45), (-1.6, 0.45)]
    return np.asarray(pts, dtype=np.float32) * size


def _inside(vertices: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Mask of grid points inside a convex polygon (vertices in clockwise screen order)."""
    mask = np.ones(ys.shape, dtype=bool)
    for (x0, y0), (x1, y1) in zip(vertices, np.roll(vertices, -1, axis=0)):
        mask &= (x1 - x0) * (ys - y0) - (y1 - y0) * (xs - x0) >= 0
    return mask


def _background(rng: np.random.Generator, h: int, w: int, clutter: float) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(40, 140, size=3).astype(np.float32)
    bg = np.broadcast_to(base, (h, w, 3)).copy()
    for _ in range(3):  # a few oriented gratings of random colour
        theta, freq, phase = rng.uniform(0, np.pi), rng.uniform(0.05, 0.35), rng.uniform(0, 2 * np.pi)
        wave = np.sin(freq * (xs * np.cos(theta) + ys * np.sin(theta)) + phase)
        bg += wave[..., None] * rng.uniform(-clutter, clutter, size=3).astype(np.float32)
    return bg


def render_video(spec: SyntheticSpec, class_index: int, group: int, clip: int) -> np.ndarray:
    """Frames ``(T, H, W, 3)`` uint8 of one video; deterministic from the spec and its position."""
    band = list(SPEEDS.values())[class_index]
    rng = np.random.default_rng([spec.seed, class_index, group, clip])
    h, w, t = spec.height, spec.width, spec.num_frames
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    background = _background(rng, h, w, spec.clutter * rng.uniform(0.3, 1.0))
    colour = rng.uniform(150, 255, size=3).astype(np.float32) * rng.permutation([1.0, 0.6, 0.2])
    size = rng.uniform(*spec.object_size) * h
    speed = band * rng.uniform(1 - spec.speed_jitter, 1 + spec.speed_jitter)  # this video's, pixels per frame
    polygon = _polygon(SHAPES[int(rng.integers(len(SHAPES)))], size)
    angle = rng.uniform(0, 2 * np.pi)
    dx, dy = DIRECTIONS[int(rng.integers(len(DIRECTIONS)))]
    x0, y0 = rng.uniform(0.25, 0.75) * w, rng.uniform(0.3, 0.7) * h
    travel = np.arange(t, dtype=np.float32) * speed
    # the object leaves one edge and comes back at the opposite one
    cx = (x0 + dx * travel) % (w + 2 * size) - size if dx else np.full(t, x0)
    cy = (y0 + dy * travel) % (h + 2 * size) - size if dy else np.full(t, y0)
    c, s = np.cos(angle), np.sin(angle)
    shape = polygon @ np.array([[c, s], [-s, c]], dtype=np.float32)
    frames = np.empty((t, h, w, 3), dtype=np.uint8)
    for i in range(t):
        frame = background.copy()
        frame[_inside(shape + np.array([cx[i], cy[i]]), ys, xs)] = colour
        frame += rng.normal(0, spec.noise, size=frame.shape).astype(np.float32)
        frames[i] = np.clip(frame, 0, 255).astype(np.uint8)
    return frames


def video_name(cls: str, group: int, clip: int) -> str:
    return f"{cls}/v_{cls}_g{group:02d}_c{clip:02d}.avi"


def _write_one(args: tuple[SyntheticSpec, str, int, int, int]) -> None:
    spec, root, class_index, group, clip = args
    cls = spec.classes[class_index]
    write_video(Path(root) / video_name(cls, group, clip), render_video(spec, class_index, group, clip), spec.fps)


def generate(out_dir: str | os.PathLike, spec: SyntheticSpec = SyntheticSpec(), workers: int | None = None) -> Path:
    """Write the dataset to ``out_dir`` (atomically: a finished tree or none). Returns ``out_dir``."""
    out_dir = Path(out_dir)
    if (out_dir / "synthetic.json").is_file():
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        classes = spec.classes
        for cls in classes:
            (tmp / cls).mkdir()
        jobs = [
            (spec, str(tmp), ci, g, c)
            for ci in range(len(classes))
            for g in range(1, spec.groups + 1)
            for c in range(1, spec.clips_per_group + 1)
        ]
        workers = workers or min(4, os.cpu_count() or 1)
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                list(pool.map(_write_one, jobs, chunksize=8))
        else:
            for job in jobs:
                _write_one(job)
        ann = tmp / "ucfTrainTestlist"
        ann.mkdir()
        crlf = "\r\n"
        (ann / "classInd.txt").write_bytes(
            crlf.join(f"{i} {c}" for i, c in enumerate(classes, start=1)).encode() + crlf.encode()
        )
        train, test = [], []
        for ci, cls in enumerate(classes, start=1):
            for g in range(1, spec.groups + 1):
                for c in range(1, spec.clips_per_group + 1):
                    if g <= spec.test_groups:
                        test.append(video_name(cls, g, c))
                    else:
                        train.append(f"{video_name(cls, g, c)} {ci}")
        (ann / "trainlist01.txt").write_bytes((crlf.join(train) + crlf).encode())
        (ann / "testlist01.txt").write_bytes((crlf.join(test) + crlf).encode())
        (tmp / "synthetic.json").write_text(json.dumps(asdict(spec), indent=2))
        try:
            os.rename(tmp, out_dir)
        except OSError:
            if not (out_dir / "synthetic.json").is_file():  # someone else finished first otherwise
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def ensure_synthetic(spec: SyntheticSpec = SyntheticSpec(), cache_dir: str | os.PathLike | None = None) -> Path:
    """The cached dataset for ``spec``, generated on first use."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return generate(root / f"synthetic-{spec.key()}", spec)
