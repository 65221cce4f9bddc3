"""Test videos that imitate quirks of real dataset files, which PyAV's own muxing never produces.

- ``write_mpeg4_avi``: MPEG-4 part 2 (the XviD/DivX codec of UCF101 and HMDB51) in AVI, with or
  without B-frames.
- ``pack_bframes``: rewrites such an AVI the way DivX 5 stored B-frames ("packed B-frames", about
  3,000 of UCF101's videos): the first B-VOP after each reference VOP is appended to that reference's
  packet, a few-byte not-coded VOP takes the B-frame's packet slot, and DivX user data ending in "p"
  (which is how FFmpeg's decoder recognises the packing) appears in the first keyframe only. FFmpeg
  then warns "Video uses a non-standard and wasteful way to store B-frames", and the timestamps of the
  decoded frames are no longer in display order. Its ``ending`` imitates the two kinds of real file
  whose frame counts disagree:

  - ``"xvid"`` (a UCF101 XviD AVI with packed B-frames): the last packet is a packed reference + B pair
    with no N-VOP after it. The AVI header (one frame per packet) agrees with the decoder, and the
    stream holds one coded VOP more than the decoder outputs: the held-back B never reaches it.
  - ``"dx50"`` (HMDB51's DivX 5 AVIs): an N-VOP packet follows the last frame, so the header counts one
    frame more than the decoder outputs.
  - ``"nvop"``: every packed pair is followed by its N-VOP and nothing else (header, VOPs and decoder
    agree).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vssl_bench.data import mpeg4

DIVX_USER_DATA = b"\x00\x00\x01\xb2DivX503b1393p"


def write_mpeg4_avi(path: str | Path, frames: np.ndarray, fps: int | Fraction = 25, gop: int = 12,
                    bframes: int = 0) -> str:
    """``fps`` may be a fraction: UCF101's original AVIs run at 30000/1001 (29.97) frames per second."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = int(frames.shape[2]), int(frames.shape[1])
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        stream.codec_context.max_b_frames = bframes
        stream.codec_context.qscale = 3
        stream.codec_context.flags |= av.codec.context.Flags.qscale
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(stream.encode())
    return str(path)


def not_coded_vop(increment_bits: int, increment: int) -> bytes:
    """A P-VOP with vop_coded = 0: what DivX writes in the packet slot of a packed B-frame."""
    bits = "01" + "0" + "1" + format(increment % (1 << increment_bits), f"0{increment_bits}b") + "1" + "0"
    bits += "0" + "1" * ((7 - len(bits)) % 8)  # stuffing: a zero, then ones to the byte boundary
    return mpeg4.VOP_START + int(bits, 2).to_bytes(len(bits) // 8, "big")


def pack_bframes(src: str | Path, dst: str | Path, ending: str = "nvop") -> str:
    with av.open(str(src)) as container:
        stream = container.streams.video[0]
        packets = [(bytes(p), bool(p.is_keyframe)) for p in container.demux(stream) if p.size]
    bits = mpeg4.time_increment_bits(packets[0][0])

    def kind(data: bytes) -> str:
        return mpeg4.vops(data, bits)[0].kind

    packed: list[tuple[bytes, bool]] = []
    i = 0
    while i < len(packets):
        data, key = packets[i]
        if i == 0:
            data = data.replace(mpeg4.VOP_START, DIVX_USER_DATA + mpeg4.VOP_START, 1)
        if kind(data) != "B" and i + 1 < len(packets) and kind(packets[i + 1][0]) == "B":
            packed.append((data + packets[i + 1][0], key))
            if not (ending == "xvid" and i + 2 == len(packets)):
                packed.append((not_coded_vop(bits, len(packed)), False))
            i += 2
        else:
            packed.append((data, key))
            i += 1
    if ending == "xvid" and len(mpeg4.vops(packed[-1][0], bits)) < 2:
        raise ValueError(f"{src}: its last two packets are not a reference VOP and a B-VOP; cannot end packed")
    if ending == "dx50":
        packed.append((not_coded_vop(bits, len(packed)), False))
    with av.open(str(src)) as source, av.open(str(dst), mode="w") as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        for n, (data, key) in enumerate(packed):
            packet = av.Packet(data)
            packet.pts = packet.dts = n
            packet.time_base = stream.time_base
            packet.stream = stream
            packet.is_keyframe = key
            out.mux(packet)
    return str(dst)


def decoded_timestamps(path: str) -> list[int]:
    with av.open(path) as container:
        return [int(f.pts) for f in container.decode(video=0)]
