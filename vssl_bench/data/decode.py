"""Exact, sparse clip decoding with PyAV.

``read_frames(path, indices)`` returns the frames that a full sequential decode of the video would
produce at those 0-based positions, without decoding the whole video:

1. ``probe`` demultiplexes the file once (no decoding) and records every video packet's presentation
   timestamp and keyframe flag. Sorted, those timestamps *are* the frame order of a sequential decode,
   so frame ``i`` is the one whose timestamp is ``pts[i]``; this holds for variable frame rates and for
   streams with B-frames, where "index = time x fps" would drift. The probe is cached per process.
2. The wanted frames are visited in ascending order. For each one we seek to the keyframe at or before
   it unless the decoder is already positioned between that keyframe and the frame, so a clip (or
   several overlapping clips of one sample) costs one seek and decodes only from the preceding
   keyframe to its last frame.
3. Frames are converted to RGB and resized in one ``swscale`` call while leaving YUV, so no full-size
   RGB copy is made.

Policy for bad files: a file that cannot be opened, has no video stream, no frames, or stops decoding
before a wanted frame raises :class:`~vssl_bench.errors.VideoDecodeError` naming the file. Callers that
run long jobs (the data module) catch it, count it and substitute another video. Videos that are merely
*short* are not an error here: the methods' samplers loop or resample indices as the papers' code does,
so indices always lie inside ``[0, num_frames)``.
"""

from __future__ import annotations

import bisect
import itertools
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import av
import numpy as np
import torch

from vssl_bench.errors import VideoDecodeError

Size = int | tuple[int, int] | None


@dataclass(frozen=True)
class VideoInfo:
    """What the demuxer tells about a video without decoding it."""

    path: str
    num_frames: int
    fps: float
    width: int
    height: int
    pts: np.ndarray  # (num_frames,) presentation timestamps in stream time base, ascending
    keyframes: np.ndarray  # ascending frame indices of keyframes


_PROBE_CACHE: OrderedDict[tuple[str, int, float], VideoInfo] = OrderedDict()
_PROBE_CACHE_SIZE = 8192


def _open(path: str) -> av.container.InputContainer:
    if not os.path.isfile(path):
        raise VideoDecodeError(f"video file not found: {path}")
    try:
        container = av.open(path, mode="r")
    except av.FFmpegError as exc:
        raise VideoDecodeError(
            f"cannot open video {path}: {exc}. The file is corrupt or not a video; re-encode or remove it."
        ) from exc
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(f"{path} has no video stream; remove it from the split or re-encode it.")
    return container


def probe(path: str) -> VideoInfo:
    """Frame count, fps, size and the timestamp/keyframe table of ``path`` (demux only, cached)."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        raise VideoDecodeError(f"video file not found: {path}") from exc
    key = (path, st.st_size, st.st_mtime)
    cached = _PROBE_CACHE.get(key)
    if cached is not None:
        _PROBE_CACHE.move_to_end(key)
        return cached
    container = _open(path)
    try:
        stream = container.streams.video[0]
        pts: list[int] = []
        key_flags: list[bool] = []
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # flush packet at end of stream
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is None:
                    continue
                pts.append(int(ts))
                key_flags.append(bool(packet.is_keyframe))
        except av.FFmpegError:
            pass  # a truncated tail: keep the packets read so far
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        width, height = stream.codec_context.width, stream.codec_context.height
    finally:
        container.close()
    if not pts:
        raise VideoDecodeError(f"{path} contains no video frames; remove it from the split or re-encode it.")
    order = np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")
    pts_sorted = np.asarray(pts, dtype=np.int64)[order]
    keep = np.concatenate([[True], np.diff(pts_sorted) != 0])  # drop duplicated timestamps
    flags = np.asarray(key_flags)[order][keep]
    pts_sorted = pts_sorted[keep]
    keyframes = np.flatnonzero(flags)
    if keyframes.size == 0 or keyframes[0] != 0:
        keyframes = np.concatenate([[0], keyframes])
    info = VideoInfo(path, int(pts_sorted.size), fps, width, height, pts_sorted, keyframes.astype(np.int64))
    _PROBE_CACHE[key] = info
    if len(_PROBE_CACHE) > _PROBE_CACHE_SIZE:
        _PROBE_CACHE.popitem(last=False)
    return info


def output_size(width: int, height: int, size: Size) -> tuple[int, int]:
    """(H, W) of decoded frames: ``None`` keeps the size, an int sets the short side, a pair is exact."""
    if size is None:
        return height, width
    if isinstance(size, int):
        if height <= width:
            return size, max(1, round(width * size / height))
        return max(1, round(height * size / width)), size
    h, w = size
    return int(h), int(w)


def read_frames(
    path: str,
    indices: Sequence[int] | np.ndarray | torch.Tensor,
    size: Size = None,
    threads: int = 1,
) -> torch.Tensor:
    """Decode the frames at ``indices`` (0-based, any order, repeats allowed) as uint8 ``(T, H, W, 3)`` RGB.

    ``size``: ``None`` keeps the stored size, an ``int`` resizes the short side to it (aspect kept),
    ``(H, W)`` resizes to exactly that. ``threads`` is the decoder's own thread count (1 in data-loader
    workers, which already run in parallel).
    """
    info = probe(path)
    wanted = np.asarray(indices, dtype=np.int64).reshape(-1)
    out_h, out_w = output_size(info.width, info.height, size)
    out = np.empty((wanted.size, out_h, out_w, 3), dtype=np.uint8)
    if wanted.size == 0:
        return torch.from_numpy(out)
    if wanted.min() < 0 or wanted.max() >= info.num_frames:
        raise ValueError(
            f"frame indices must lie in [0, {info.num_frames}) for {path}; got {wanted.min()}..{wanted.max()}"
        )
    unique = np.unique(wanted)
    decoded = _decode_sorted(info, unique.tolist(), out_h, out_w, threads)
    for slot, idx in enumerate(wanted.tolist()):
        out[slot] = decoded[idx]
    return torch.from_numpy(out)


def _decode_sorted(info: VideoInfo, needed: list[int], out_h: int, out_w: int, threads: int) -> dict[int, np.ndarray]:
    """Decode the ascending frame indices ``needed``; one seek per run of frames sharing a keyframe span."""
    pts_to_index = {int(p): i for i, p in enumerate(info.pts.tolist())}
    keyframes = info.keyframes.tolist()
    wanted = set(needed)
    found: dict[int, np.ndarray] = {}

    def keyframe_before(index: int) -> int:
        return keyframes[bisect.bisect_right(keyframes, index) - 1]

    container = _open(info.path)
    try:
        stream = container.streams.video[0]
        stream.thread_count = max(1, threads)
        frames: Iterator[av.VideoFrame] | None = None
        position = -1  # index of the last frame the decoder returned
        cursor = 0
        while cursor < len(needed):
            if frames is None or position < keyframe_before(needed[cursor]) - 1:
                frames, position = _seek(container, stream, info, keyframe_before(needed[cursor]), pts_to_index)
            for frame in frames:
                position = _frame_index(frame, pts_to_index, position)
                if position in wanted and position not in found:
                    found[position] = frame.to_ndarray(
                        format="rgb24", width=out_w, height=out_h, interpolation="BILINEAR"
                    )
                while cursor < len(needed) and needed[cursor] in found:
                    cursor += 1
                if cursor >= len(needed):
                    break
                if position >= needed[cursor]:
                    raise VideoDecodeError(
                        f"{info.path}: frame {needed[cursor]} was not produced by the decoder "
                        "(broken timestamps). Re-encode the file or remove it from the split."
                    )
                if keyframe_before(needed[cursor]) > position + 1:
                    break  # seeking forward is cheaper than decoding through the gap
            else:
                missing = [i for i in needed if i not in found]
                raise VideoDecodeError(
                    f"{info.path} stopped decoding before frame(s) {missing[:5]} of {info.num_frames}; "
                    "the file is truncated or corrupt. Re-encode it or remove it from the split."
                )
    except av.FFmpegError as exc:
        raise VideoDecodeError(
            f"error while decoding {info.path}: {exc}. Re-encode the file or remove it from the split."
        ) from exc
    finally:
        container.close()
    return found


def _seek(container, stream, info: VideoInfo, key: int, pts_to_index: dict[int, int]):
    """Seek to keyframe ``key`` (or before); return (frame iterator, index of the frame before it)."""
    for start in (key, 0):  # if the demuxer lands after the keyframe, decode from the very start
        container.seek(int(info.pts[start]), stream=stream, backward=True, any_frame=False)
        frames = container.decode(stream)
        first = next(frames, None)
        if first is None:
            raise VideoDecodeError(f"{info.path}: no frame decodes after frame {start}; the file is corrupt.")
        index = _frame_index(first, pts_to_index, start - 1)
        if index <= key:
            return itertools.chain([first], frames), index - 1
    raise VideoDecodeError(f"{info.path}: seeking does not reach frame {key}; re-encode the file.")


def _frame_index(frame: av.VideoFrame, pts_to_index: dict[int, int], previous: int) -> int:
    if frame.pts is not None:
        index = pts_to_index.get(int(frame.pts))
        if index is not None:
            return index
    return previous + 1
