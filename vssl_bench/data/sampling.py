"""Clip index arithmetic shared by the methods' samplers and the evaluation protocols. Pure: no I/O.

A *clip* is an int64 array of 0-based frame indices. Videos shorter than a clip's span are handled by
the papers' policy: indices wrap around to the start (RSPNet's looping ``fallback_select``) or restart
there (Pace's ``loop_load_rgb``), so every index lies in ``[0, num_frames)``; or, where the paper's
loader reads another video instead (PRP), the sampler raises ``VideoTooShort`` and the data module
picks the other video.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

ClipSampler = Callable[[int, np.random.Generator], tuple[list[np.ndarray], dict[str, Any]]]
"""``sampler(num_frames, rng) -> (clips, targets)``: the contract between a method and the data module."""


class VideoTooShort(Exception):
    """A sampler's draw needs ``needed`` frames and the video has only ``num_frames``; the paper's loader
    reads another video with the same draw. ``resample`` is the sampler with that draw fixed (PRP: the
    rate), to be called on the other video; ``wrapped`` the ``(clips, targets)`` of this video read
    from frame 0 and wrapping around, for a caller with no other video long enough."""

    def __init__(self, needed: int, num_frames: int, resample: ClipSampler,
                 wrapped: tuple[list[np.ndarray], dict[str, Any]]) -> None:
        super().__init__(f"the draw needs {needed} frames, the video has {num_frames}")
        self.needed, self.num_frames, self.resample, self.wrapped = needed, num_frames, resample, wrapped


def sample_or_wrap(sampler: ClipSampler, num_frames: int,
                   rng: np.random.Generator) -> tuple[list[np.ndarray], dict[str, Any]]:
    """``sampler(num_frames, rng)``, taking the wrapped-around clips of a draw the video is too short for:
    for callers that only need clips and targets of the right shape (benchmarks, placeholders)."""
    try:
        return sampler(num_frames, rng)
    except VideoTooShort as short:
        return short.wrapped


def strided_clip(start: int, length: int, stride: int, num_frames: int) -> np.ndarray:
    """``length`` indices from ``start`` every ``stride`` frames, wrapping past the end of the video."""
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    return (start + stride * np.arange(length, dtype=np.int64)) % num_frames


def restarting_clip(start: int, length: int, stride: int, num_frames: int) -> np.ndarray:
    """``length`` indices from ``start`` every ``stride`` frames; past the end of the video the clip
    restarts at frame 0 and goes on at the same stride (Pace's ``loop_load_rgb``), as often as needed."""
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    first = min(length, (num_frames - 1 - start) // stride + 1)  # frames before the first restart
    period = (num_frames - 1) // stride + 1  # frames of one pass from frame 0
    rest = (np.arange(length - first, dtype=np.int64) % period) * stride
    return np.concatenate([start + stride * np.arange(first, dtype=np.int64), rest])


def random_start(num_frames: int, span: int, rng: np.random.Generator) -> int:
    """A uniform start such that ``span`` frames fit; 0 when the video is shorter than the span."""
    return int(rng.integers(0, max(num_frames - span, 0) + 1))


def prp_start(num_frames: int, span: int, rng: np.random.Generator) -> int:
    """PRP's official start: drawn uniformly in ``[0, num_frames - span - 1]`` (the code asks for
    ``span + 1`` frames), then moved one frame earlier unless it is 0. So start 0 is twice as likely as
    any other and the last two starts that would fit are never drawn. 0 when the video has fewer than
    ``span + 1`` frames (``DilatedSampler`` never asks: it raises ``VideoTooShort`` first)."""
    if num_frames < span + 1:
        return 0
    return max(int(rng.integers(0, num_frames - span)) - 1, 0)


def even_starts(num_frames: int, span: int, count: int, rounding: Literal["round", "floor"] = "round") -> np.ndarray:
    """``count`` starts spread evenly so the clips cover the video, first to last; one clip is the
    centre clip (RSPNet's ``EvenNCrop``: ``(num_frames - span) // 2``, its per-epoch validation clip).
    ``rounding``: ``round`` as RSPNet's ``EvenNCrop`` (``linspace(...).round()``), ``floor`` as VCOP's
    retrieval and PRP's test clips (``int(i - span / 2)`` for ``i`` in ``linspace(span / 2, n - span / 2)``)."""
    last = max(num_frames - span, 0)
    if count == 1:
        return np.asarray([last // 2], dtype=np.int64)
    if rounding == "round":
        return np.linspace(0, last, count).round().astype(np.int64)
    centres = np.linspace(span / 2, last + span / 2, count)  # the official arithmetic, float for float
    return np.asarray([int(c - span / 2) for c in centres], dtype=np.int64)


@dataclass(frozen=True)
class RandomClipSampler:
    """One clip of consecutive (strided) frames at a random start: supervised fine-tuning."""

    clip_len: int
    stride: int = 1

    def __call__(self, num_frames: int, rng: np.random.Generator) -> tuple[list[np.ndarray], dict[str, Any]]:
        span = (self.clip_len - 1) * self.stride + 1
        start = random_start(num_frames, span, rng)
        return [strided_clip(start, self.clip_len, self.stride, num_frames)], {}


@dataclass(frozen=True)
class EvenClipsSampler:
    """``num_clips`` clips evenly spaced over the video: video-level evaluation and retrieval."""

    clip_len: int
    num_clips: int
    stride: int = 1
    rounding: Literal["round", "floor"] = "round"  # RSPNet's EvenNCrop / VCOP's and PRP's test clips

    def __call__(self, num_frames: int, rng: np.random.Generator) -> tuple[list[np.ndarray], dict[str, Any]]:
        span = (self.clip_len - 1) * self.stride + 1
        starts = even_starts(num_frames, span, self.num_clips, self.rounding)
        return [strided_clip(int(s), self.clip_len, self.stride, num_frames) for s in starts], {}
