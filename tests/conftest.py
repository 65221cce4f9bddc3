from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from vssl_bench.data.synthetic import SyntheticSpec, ensure_synthetic, write_video

SHARED_DATA = Path(os.environ.get("VSSL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
BITS = 12  # frame index encoded as 12 black/white blocks (2 rows x 6), large enough to survive coding


def index_frames(n: int, h: int = 64, w: int = 96) -> np.ndarray:
    """Frames whose pixels spell out their own index."""
    frames = np.zeros((n, h, w, 3), np.uint8)
    bh, bw = h // 2, w // 6
    for i in range(n):
        for b in range(BITS):
            if (i >> b) & 1:
                r, c = divmod(b, 6)
                frames[i, r * bh:(r + 1) * bh, c * bw:(c + 1) * bw] = 255
    return frames


def read_index(frame: np.ndarray) -> int:
    h, w = frame.shape[:2]
    bh, bw = h // 2, w // 6
    value = 0
    for b in range(BITS):
        r, c = divmod(b, 6)
        block = frame[r * bh + bh // 4:(r + 1) * bh - bh // 4, c * bw + bw // 4:(c + 1) * bw - bw // 4]
        if block.mean() > 128:
            value |= 1 << b
    return value


@pytest.fixture(scope="session")
def indexed_videos(tmp_path_factory) -> dict[str, str]:
    """A 300-frame avi (MPEG-4 part 2) and mp4 (H.264 with B-frames), keyframe every 12 and 250 frames."""
    root = tmp_path_factory.mktemp("indexed")
    frames = index_frames(300)
    paths = {}
    for ext in ("avi", "mp4"):
        for gop in (12, 250):
            path = root / f"index_gop{gop}.{ext}"
            write_video(path, frames, fps=25, gop=gop)
            paths[f"{ext}{gop}"] = str(path)
    return paths


@pytest.fixture(scope="session", autouse=True)
def synthetic_cache(tmp_path_factory) -> Path:
    """A cache folder of the session (``VSSL_BENCH_CACHE``), so tests never write into ~/.cache and
    everything that asks for the built-in dataset shares one copy."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VSSL_BENCH_CACHE", str(cache))
        yield cache


@pytest.fixture(scope="session")
def synthetic_root(synthetic_cache) -> Path:
    """The default synthetic dataset, generated once per test session."""
    return ensure_synthetic(SyntheticSpec(), synthetic_cache)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"official split files not found at {SHARED_DATA} (set VSSL_SHARED_DATA to run these tests)")
    return SHARED_DATA
