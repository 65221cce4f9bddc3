"""Exact, sparse clip decoding with PyAV.

``read_frames(path, indices)`` returns the frames that a full sequential decode of the video would
produce at those 0-based positions, without decoding the whole video:

1. ``probe`` demultiplexes the file once (no decoding) and learns how to name each decoded frame:

   - *by timestamp* (mp4, mkv, webm, ...): every video packet's presentation timestamp and keyframe
     flag is recorded. Sorted, those timestamps *are* the frame order of a sequential decode, so frame
     ``i`` is the one whose timestamp is ``pts[i]``; this holds for variable frame rates and for
     streams with B-frames, where "index = time x fps" would drift.
   - *by position* (MPEG-4 part 2 in AVI, i.e. UCF101 and HMDB51): AVI has no presentation timestamps,
     and DivX "packed B-frames" make FFmpeg's guessed ones wrong. The VOP headers give the display
     order instead (:mod:`vssl_bench.data.mpeg4`): the frame count and each keyframe's display index.
     The count is the decoder's: a packed VOP that nothing releases at the end of the stream never
     reaches the decoder and is not counted, whatever the AVI header says.
     After a seek the decoder's first frame is that keyframe (recognised by its packet timestamp), and
     frame ``i`` is the ``i``-th frame the decoder returns from there.

   The probe is cached per process for one-off callers; a dataset keeps every video's probe in its
   own table (:mod:`vssl_bench.data.probe_table`) and passes it in (``read_frames(..., info=)``).
2. The wanted frames are visited in ascending order. For each one we seek to the keyframe at or before
   it unless the decoder is already positioned between that keyframe and the frame, so a clip (or
   several overlapping clips of one sample) costs one seek and decodes only from the preceding
   keyframe to its last frame.
   While catching up to a wanted frame, non-reference frames nobody asked for are not decoded at all
   (streams named by timestamp: H.264/HEVC B-frames that no other frame refers to, as ``vssl-bench data
   transcode``'s default profile writes them). In an all-intra stream (every frame a keyframe) the
   packets of unwanted frames are not handed to the decoder: a read decodes exactly the wanted frames,
   reading short gaps through and seeking over long ones. The file is opened without FFmpeg's stream
   analysis (the probe already knows the stream), and decoding stops at the last wanted frame.
3. Wanted frames are resized while leaving YUV (no full-size RGB copy is made) on this thread only,
   with a kept ``swscale`` context, and written straight into the output array (``_RgbWriter``); or,
   with ``pixels="yuv420p"``, the decoder's 4:2:0 planes are copied out as they are (``_YuvWriter``), for
   the conversion and resizing to happen on the device (:func:`vssl_bench.data.transforms.yuv420_to_rgb`).

Policy for bad files: a file that cannot be opened, has no video stream, no frames, or stops decoding
before a wanted frame raises :class:`~vssl_bench.errors.VideoDecodeError` naming the file. Callers that
run long jobs (the data module) catch it, count it and substitute another video. Videos that are merely
*short* are not an error here: the methods' samplers loop or resample indices as the papers' code does,
so indices always lie inside ``[0, num_frames)``.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import av
import numpy as np
import torch
from av.bitstream import BitStreamFilterContext
from av.video.reformatter import ColorRange, Interpolation, VideoReformatter

from vssl_bench.data import mpeg4
from vssl_bench.errors import VideoDecodeError

Size = int | tuple[int, int] | None
Pixels = Literal["rgb24", "yuv420p"]


@dataclass(frozen=True)
class VideoInfo:
    """What the demuxer tells about a video without decoding it."""

    path: str
    num_frames: int
    fps: float
    width: int
    height: int
    keyframes: np.ndarray  # ascending frame indices of keyframes
    seek_pts: np.ndarray  # per keyframe: the timestamp to seek to (stream time base)
    keyframe_pts: np.ndarray  # per keyframe: the timestamp its decoded frame carries
    pts: np.ndarray | None  # by timestamp: (num_frames,) frame timestamps, ascending; by position: None
    packed_bframes: bool = False  # DivX packed B-frames (information: they are read exactly)
    declared_frames: int = 0  # the frame count the container's header states (0: it states none)
    undecoded_vops: int = 0  # packed streams: coded VOPs the decoder never outputs (see mpeg4.DisplayOrder)
    demuxer: str | None = None  # FFmpeg's demuxer for the file: reopening names it and skips format probing

    @property
    def by_position(self) -> bool:
        return self.pts is None


_PROBE_CACHE: OrderedDict[tuple[str, int, float], VideoInfo] = OrderedDict()
_PROBE_CACHE_SIZE = 8192


# A probe needs only what the container says: without this, opening a file decodes its first frames
# to learn the pixel format (a third of a Kinetics clip's probe, ~1 of 3 CPU-ms)
_HEADERS_ONLY = [{"skip_frame": "all"}]
# A read knows the video from its probe and needs none of what FFmpeg's stream analysis learns: that
# analysis is told to decode nothing and to stop after the first packet (it otherwise decodes the first
# frame, or with nothing decoded reads on; ~0.1 of a read's ~0.3 ms of opening). The decoder a read
# uses is opened afterwards, with the default settings
_READ_OPTIONS = {"probesize": "32", "fpsprobesize": "0"}
LEAN_OPEN = True  # benchmarks/cores_per_gpu.py turns this off to measure what it saves


def _open(path: str, demuxer: str | None = None, headers_only: bool = False,
          read: bool = False) -> av.container.InputContainer:
    if not os.path.isfile(path):
        raise VideoDecodeError(f"video file not found: {path}")
    try:
        lean = read and LEAN_OPEN
        container = av.open(path, mode="r", format=demuxer, options=_READ_OPTIONS if lean else None,
                            stream_options=_HEADERS_ONLY if headers_only or lean else None)
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
    container = _open(path, headers_only=True)
    if not (container.streams.video[0].codec_context.width and container.streams.video[0].codec_context.height):
        container.close()  # a codec whose frame size is known only by decoding
        container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        width, height = stream.codec_context.width, stream.codec_context.height
        info = None
        if stream.codec_context.name == "mpeg4" and "avi" in container.format.name.split(","):
            info = _probe_by_position(container, stream, path, fps, width, height)
        if info is None:
            if stream.codec_context.name == "mpeg4":
                container.seek(0, stream=stream)  # the look at the VOP headers read packets already
            info = _probe_by_timestamp(container, stream, path, fps, width, height)
        info = dataclasses.replace(info, declared_frames=int(stream.frames or 0),
                                   demuxer=container.format.name.split(",")[0])
    finally:
        container.close()
    _PROBE_CACHE[key] = info
    if len(_PROBE_CACHE) > _PROBE_CACHE_SIZE:
        _PROBE_CACHE.popitem(last=False)
    return info


def _packets(container, stream) -> Iterator[av.Packet]:
    try:
        for packet in container.demux(stream):
            if packet.size:  # size 0: the flush packet at the end of the stream
                yield packet
    except av.FFmpegError:
        return  # a truncated tail: keep the packets read so far


def _probe_by_timestamp(container, stream, path: str, fps: float, width: int, height: int) -> VideoInfo:
    pts: list[int] = []
    key_flags: list[bool] = []
    for packet in _packets(container, stream):
        ts = packet.pts if packet.pts is not None else packet.dts
        if ts is None:
            continue
        pts.append(int(ts))
        key_flags.append(bool(packet.is_keyframe))
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
    keyframes = keyframes.astype(np.int64)
    return VideoInfo(path, int(pts_sorted.size), fps, width, height, keyframes,
                     pts_sorted[keyframes], pts_sorted[keyframes], pts_sorted)


def _probe_by_position(container, stream, path: str, fps: float, width: int, height: int) -> VideoInfo | None:
    """Display order of an MPEG-4 part 2 AVI from its VOP headers; None if it has no VOL header."""
    bits = mpeg4.time_increment_bits(bytes(stream.codec_context.extradata or b""))
    order = mpeg4.DisplayOrder()
    candidates: list[tuple[int, int, int]] = []  # (packet number, seek timestamp, packet timestamp)
    for number, packet in enumerate(_packets(container, stream)):
        data = bytes(packet)
        if bits is None:
            bits = mpeg4.time_increment_bits(data)
            if bits is None:
                return None
        vops = mpeg4.vops(data, bits)
        seekable = order.idle and vops and vops[0].coded and vops[0].kind == "I"
        order.feed(number, vops, packet.size)
        if seekable and packet.is_keyframe and packet.pts is not None:
            seek = packet.dts if packet.dts is not None else packet.pts
            candidates.append((number, int(seek), int(packet.pts)))
    num_frames = order.finish()
    if num_frames == 0:
        raise VideoDecodeError(f"{path} contains no video frames; remove it from the split or re-encode it.")
    keys = [(order.first_frame[n], seek, ts) for n, seek, ts in candidates if n in order.first_frame]
    if not keys or keys[0][0] != 0:
        return None  # no keyframe at the start: let timestamps decide
    keyframes, seek_pts, keyframe_pts = (np.asarray(column, dtype=np.int64) for column in zip(*keys))
    return VideoInfo(path, num_frames, fps, width, height, keyframes, seek_pts, keyframe_pts, None,
                     packed_bframes=order.packed, undecoded_vops=order.discarded)


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
    info: VideoInfo | None = None,
    pixels: Pixels = "rgb24",
) -> torch.Tensor:
    """Decode the frames at ``indices`` (0-based, any order, repeats allowed) as uint8 ``(T, H, W, 3)`` RGB.

    ``size``: ``None`` keeps the stored size, an ``int`` resizes the short side to it (aspect kept),
    ``(H, W)`` resizes to exactly that. ``threads`` is the decoder's own thread count: 1 in data-loader
    workers that already fill every core; more (frame and slice threading) where a worker has cores
    to spare. ``info``: the video's probe, if the caller keeps it (otherwise ``path`` is probed).

    ``pixels="yuv420p"`` returns the decoder's own 4:2:0 planes instead, uint8 ``(T, H * 3 // 2, W)``
    at the stored size (I420 order: the Y plane, then U, then V, each frame one contiguous block; see
    :func:`yuv420_planes`): no colour conversion or resizing on this thread, half the bytes of RGB.
    :func:`vssl_bench.data.transforms.yuv420_to_rgb` converts and resizes them, on the device or here.
    ``size`` must then be ``None`` or the stored size; an odd stored width or height loses its last
    column or row (4:2:0 planes need an even size; transcoded files have one).
    """
    info = probe(path) if info is None else info
    wanted = np.asarray(indices, dtype=np.int64).reshape(-1)
    if pixels == "yuv420p":
        if size is not None and output_size(info.width, info.height, size) != (info.height, info.width):
            raise ValueError(f"pixels='yuv420p' returns the stored {info.height}x{info.width} frames of {path}: "
                             "resize after the conversion (transforms.yuv420_to_rgb(..., size=)), not here")
        out_h, out_w = info.height & ~1, info.width & ~1  # an odd size loses its last row or column
        out = np.empty((wanted.size, out_h * 3 // 2, out_w), dtype=np.uint8)
    elif pixels == "rgb24":
        out_h, out_w = output_size(info.width, info.height, size)
        out = np.empty((wanted.size, out_h, out_w, 3), dtype=np.uint8)
    else:
        raise ValueError(f"pixels={pixels!r}: use 'rgb24' or 'yuv420p'")
    if wanted.size == 0:
        return torch.from_numpy(out)
    if wanted.min() < 0 or wanted.max() >= info.num_frames:
        raise ValueError(
            f"frame indices must lie in [0, {info.num_frames}) for {path}; got {wanted.min()}..{wanted.max()}"
        )
    unique, first_slot = np.unique(wanted, return_index=True)
    slots = dict(zip(unique.tolist(), first_slot.tolist()))
    writer = _RgbWriter if pixels == "rgb24" else _YuvWriter
    _decode_sorted(info, unique.tolist(), writer(out, slots, out_h, out_w), threads)
    for slot, idx in enumerate(wanted.tolist()):  # repeats: copy the first slot that holds the frame
        if slots[idx] != slot:
            out[slot] = out[slots[idx]]
    return torch.from_numpy(out)


_CONVERTERS = threading.local()


class _RgbWriter:
    """Converts wanted frames to RGB at the output size straight into their slot of the output array.

    - ``swscale`` runs on this thread only (PyAV's default starts a pool of one thread per core for
      every conversion: twice the CPU for a 320x240 frame, and loader workers already fill the cores);
    - its contexts are kept per thread for all frames and calls (PyAV's per-frame
      ``to_ndarray(width=..., height=...)`` would set up a new one, filter tables included, per frame);
    - resizing is bilinear (the papers' own resizing: OpenCV/PIL bilinear) with the chroma
      interpolated at full horizontal resolution, and goes through planar RGB: scaling to ``gbrp``
      and repacking to rgb24 (an unscaled, vectorised step) gives exactly the pixels of FFmpeg's
      direct ``BILINEAR | FULL_CHR_H_INT`` conversion in under half its time (and faster than the
      direct conversion without full chroma, whose output would depend on whether the width is odd).
      Without resizing, YUV -> rgb24 is FFmpeg's plain unscaled conversion.
    """

    def __init__(self, out: np.ndarray, slots: dict[int, int], out_h: int, out_w: int) -> None:
        self.out, self.slots, self.out_h, self.out_w = out, slots, out_h, out_w
        converters = getattr(_CONVERTERS, "value", None)
        if converters is None:
            converters = _CONVERTERS.value = (VideoReformatter(), VideoReformatter())
        self.scale, self.pack = converters

    def rgb(self, frame: av.VideoFrame) -> av.VideoFrame:
        if (frame.width, frame.height) == (self.out_w, self.out_h):
            return self.pack.reformat(frame, format="rgb24", interpolation=Interpolation.BILINEAR, threads=1)
        planar = self.scale.reformat(frame, format="gbrp", width=self.out_w, height=self.out_h,
                                     interpolation=Interpolation.BILINEAR, threads=1)
        return self.pack.reformat(planar, format="rgb24", interpolation=Interpolation.BILINEAR, threads=1)

    def __call__(self, index: int, frame: av.VideoFrame) -> None:
        plane = self.rgb(frame).planes[0]
        rows = np.frombuffer(plane, dtype=np.uint8).reshape(self.out_h, plane.line_size)
        self.out[self.slots[index]] = rows[:, : self.out_w * 3].reshape(self.out_h, self.out_w, 3)


def yuv420_planes(frames: torch.Tensor | np.ndarray, height: int, width: int):
    """Views of the Y ``(..., H, W)``, U and V ``(..., H/2, W/2)`` planes of ``read_frames(...,
    pixels="yuv420p")`` frames ``(..., H * 3 // 2, W)`` (no copy)."""
    flat = frames.reshape(*frames.shape[:-2], -1)
    luma, chroma = height * width, (height // 2) * (width // 2)
    y = flat[..., :luma].reshape(*frames.shape[:-2], height, width)
    u = flat[..., luma:luma + chroma].reshape(*frames.shape[:-2], height // 2, width // 2)
    v = flat[..., luma + chroma:].reshape(*frames.shape[:-2], height // 2, width // 2)
    return y, u, v


class _YuvWriter:
    """Copies a decoded frame's three 4:2:0 planes into its slot of the output array (one copy per plane:
    the decoder's rows are padded to its alignment). A decoder whose frames are not 8-bit limited-range
    4:2:0 (4:2:2, 10 bits, JPEG's full range) is converted to it by ``swscale``, on this thread."""

    def __init__(self, out: np.ndarray, slots: dict[int, int], out_h: int, out_w: int) -> None:
        self.slots = slots
        self.planes = yuv420_planes(out, out_h, out_w)  # (T, h, w) views of the output, made once
        self.shapes = ((out_h, out_w), (out_h // 2, out_w // 2), (out_h // 2, out_w // 2))
        self.convert = VideoReformatter()

    def __call__(self, index: int, frame: av.VideoFrame) -> None:
        if frame.format.name != "yuv420p" or frame.color_range == ColorRange.JPEG:
            frame = self.convert.reformat(frame, format="yuv420p", interpolation=Interpolation.BILINEAR,
                                          src_color_range=frame.color_range, dst_color_range=ColorRange.MPEG,
                                          threads=1)
        slot = self.slots[index]
        (y, u, v), (luma, chroma, _) = self.planes, self.shapes
        py, pu, pv = frame.planes
        for out, plane, (rows, cols) in ((y, py, luma), (u, pu, chroma), (v, pv, chroma)):
            # the first rows of the decoder's padded plane (all of them unless the stored size is odd)
            out[slot] = np.frombuffer(plane, dtype=np.uint8, count=rows * plane.line_size).reshape(
                rows, plane.line_size)[:, :cols]


# Reading an all-intra stream passes over unwanted frames by demultiplexing their packets without
# decoding them (~2 us a packet) up to this many frames; a longer gap is a seek (~15 us with its first packet)
INTRA_SKIP_LIMIT = 8
# benchmarks/cores_per_gpu.py turns this off to measure what it saves (all-intra files are then read
# as any other: a seek per gap)
SKIP_INTRA_PACKETS = True


def intra_only(info: VideoInfo) -> bool:
    """Every frame a keyframe and named by timestamp (``vssl-bench data transcode --profile intra``): any
    frame decodes from its own packet alone, so a read decodes exactly the wanted frames."""
    return not info.by_position and info.keyframes.size == info.num_frames


def _decode_sorted(info: VideoInfo, needed: list[int], write: Callable[[int, av.VideoFrame], None],
                   threads: int) -> None:
    """Decode the ascending frame indices ``needed``; one seek per run of frames sharing a keyframe span."""
    name = _FrameNamer(info)
    keyframes = info.keyframes.tolist()
    wanted = set(needed)
    done: set[int] = set()
    # Frames named by timestamp may skip what nothing needs: a non-reference frame whose timestamp is
    # not wanted is never decoded (FFmpeg's skip_frame=NONREF, set packet by packet), which is exact.
    keep_pts = None if info.by_position else set(info.pts[needed].tolist())
    # All-intra: an unwanted frame is not even handed to the decoder (no frame refers to it), and short
    # gaps are read through rather than sought over
    intra = SKIP_INTRA_PACKETS and intra_only(info)

    def keyframe_before(index: int) -> int:
        return bisect.bisect_right(keyframes, index) - 1

    container = _open(info.path, info.demuxer, read=True)
    try:
        stream = container.streams.video[0]
        stream.thread_count = max(1, threads)
        if threads > 1:
            stream.thread_type = "AUTO"
        frames: Iterator[av.VideoFrame] | None = None
        position = -1  # index of the last frame the decoder returned
        cursor = 0
        sought = -1  # the keyframe last sought: a seek that fell back to the start decodes on from there
        last = len(needed)
        while cursor < last:
            key = keyframe_before(needed[cursor])
            if frames is None or position < keyframes[key] - 1:
                frames, position = _seek(container, stream, info, key, name, keep_pts, intra)
                sought = key
            target, ahead = needed[cursor], key
            for frame in frames:
                position = name(frame, position)
                if position in wanted and position not in done:
                    write(position, frame)
                    done.add(position)
                    while cursor < last and needed[cursor] in done:
                        cursor += 1
                    if cursor >= last:
                        break
                    target = needed[cursor]
                    ahead = keyframe_before(target)
                if position >= target:
                    raise VideoDecodeError(
                        f"{info.path}: frame {target} was not produced by the decoder "
                        "(broken timestamps). Re-encode the file or remove it from the split."
                    )
                if intra:
                    if target - position > INTRA_SKIP_LIMIT:
                        break  # a seek is cheaper than demultiplexing the gap
                elif keyframes[ahead] > position + 1 and ahead != sought:
                    break  # seeking forward is cheaper than decoding through the gap
            else:
                missing = [i for i in needed if i not in done]
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


class _FrameNamer:
    """The index of each decoded frame: from its timestamp, or (by position) one past the previous."""

    def __init__(self, info: VideoInfo) -> None:
        # the ascending timestamps as a list: a binary search per frame (a table of every frame, built per
        # read, cost more than the searches of a sample's frames)
        self.pts = None if info.by_position else info.pts.tolist()

    def __call__(self, frame: av.VideoFrame, previous: int) -> int:
        if self.pts is not None and frame.pts is not None:
            stamp = int(frame.pts)
            index = bisect.bisect_left(self.pts, stamp)
            if index < len(self.pts) and self.pts[index] == stamp:
                return index
        return previous + 1

    def first_after_seek(self, frame: av.VideoFrame, info: VideoInfo, key: int) -> int | None:
        """Index of the first frame after seeking to keyframe number ``key`` (None: not recognised)."""
        if self.pts is not None:
            return self(frame, int(info.keyframes[key]) - 1)
        if frame.pts is not None and int(frame.pts) == int(info.keyframe_pts[key]):
            return int(info.keyframes[key])
        return None


def _decoded(container, stream, info: VideoInfo, keep_pts: set[int] | None = None,
             intra: bool = False) -> Iterator[av.VideoFrame]:
    """The decoder's frames from the demuxer's current position.

    Packed-B-frame streams go through FFmpeg's ``mpeg4_unpack_bframes`` filter: the decoder unpacks
    such streams itself only while it remembers the DivX user data that announces them, which it
    forgets at a seek; the filter makes every packet an ordinary one-VOP packet. With ``keep_pts``,
    packets whose timestamp is not in it are decoded with ``skip_frame=NONREF``, so a non-reference
    frame that nobody asked for costs no decoding; with ``intra`` (an all-intra stream) they are not
    decoded at all.
    """
    codec = stream.codec_context
    decode = codec.decode
    unpack = BitStreamFilterContext("mpeg4_unpack_bframes", stream) if info.packed_bframes else None
    skipping = None
    try:
        for packet in container.demux(stream):
            if not packet.size:
                break  # end of stream: flushed below
            if keep_pts is not None:
                stamp = packet.pts
                keep = stamp is None or stamp in keep_pts
                if intra:
                    if keep:
                        yield from decode(packet)
                    continue
                skip = "DEFAULT" if keep else "NONREF"
                if skip != skipping:  # set on changes only
                    codec.skip_frame = skipping = skip
            if unpack is None:
                yield from decode(packet)
            else:
                for unpacked in unpack.filter(packet):
                    yield from codec.decode(unpacked)
        if unpack is not None:
            for unpacked in unpack.filter(None):
                yield from codec.decode(unpacked)
        yield from codec.decode(None)
    finally:
        if keep_pts is not None:
            codec.skip_frame = "DEFAULT"


def count_decoded_frames(info: VideoInfo, from_keyframe: int = 0) -> tuple[int, str | None]:
    """How many frames a full sequential decode yields, and the error that stopped it early (if any).
    ``from_keyframe``: decode only from keyframe number ``from_keyframe`` (after a seek, as reading does)
    and count the frames before it as the probe names them."""
    count = 0
    try:
        with av.open(info.path) as container:
            stream = container.streams.video[0]
            stream.thread_count = 1
            if from_keyframe:
                frames, count = _seek(container, stream, info, from_keyframe, _FrameNamer(info), None)
                count += 1
            else:
                frames = _decoded(container, stream, info)
            for _ in frames:
                count += 1
    except av.FFmpegError as exc:
        return count, f"decoding stopped: {exc}"
    return count, None


def _seek(container, stream, info: VideoInfo, key: int, name: _FrameNamer, keep_pts: set[int] | None,
          intra: bool = False):
    """Seek to keyframe number ``key``; return (frame iterator, index of the frame before the first)."""
    target = int(info.keyframes[key])
    for start in (key, 0):  # if the demuxer lands elsewhere, decode from the very start
        container.seek(int(info.seek_pts[start]), stream=stream, backward=True, any_frame=False)
        frames = _decoded(container, stream, info, keep_pts, intra and start == key)
        first = next(frames, None)
        if first is None:
            raise VideoDecodeError(f"{info.path}: no frame decodes after frame {target}; the file is corrupt.")
        index = name.first_after_seek(first, info, start)
        if index is not None and index <= target:
            return itertools.chain([first], frames), index - 1
    raise VideoDecodeError(f"{info.path}: seeking does not reach frame {target}; re-encode the file.")
