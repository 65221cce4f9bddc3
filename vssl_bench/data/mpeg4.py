"""MPEG-4 part 2 (XviD/DivX) stream structure, read from packet headers without decoding.

Why: UCF101 and HMDB51 are AVIs, and AVI stores no presentation timestamps. FFmpeg derives them with a
parser that a DivX "packed B-frames" stream confuses (a reference VOP and the next B-VOP share one
packet, and a few-byte not-coded VOP, the "N-VOP", fills the B-frame's slot), so decoded frames carry
timestamps that are not in display order. The display order itself follows from the VOP types alone:

- a not-coded VOP (``vop_coded == 0``) produces no frame;
- a B-VOP is shown as soon as it is decoded;
- a reference VOP (I, P, S) is shown when the next reference VOP is decoded (or at the end).

Which VOPs reach the decoder at all. A decoder takes one VOP per packet, so a packed stream is unpacked
first (FFmpeg's ``mpeg4_unpack_bframes`` filter, which we read through, or the decoder's own DivX
unpacking, which behaves the same):

- a packet with two or more VOP start codes passes its first VOP on and *holds back the second* (a
  third or later VOP of the same packet is never decoded); a VOP already held is discarded
  ("missing one N-VOP packet");
- the next one-VOP packet releases the held VOP in its place; that packet itself is dropped when it is
  at most 19 bytes (the N-VOP placeholder), and otherwise is held in turn, one packet late;
- at the end of the stream nothing releases a held VOP: **the decoder never sees it.**

So a stream whose last packet is a packed reference + B pair (the encoder wrote no N-VOP after it, as
XviD streams of UCF101 do) holds one more coded VOP than the decoder outputs frames, and its AVI header
(one frame per packet) agrees with the decoder. The other kind, a DivX stream that ends with an N-VOP
(or an empty chunk) after its last frame, has a header that counts one frame more than the decoder
outputs. :class:`DisplayOrder` follows these rules, so the count it gives is the decoder's on both.

``vop_coded`` sits after a variable-length time code whose width comes from the VOL header's
``vop_time_increment_resolution``, so that header is parsed too (ISO/IEC 14496-2, 6.2.3 and 6.2.5).
"""

from __future__ import annotations

from dataclasses import dataclass

VOP_START = b"\x00\x00\x01\xb6"
VOP_TYPES = "IPBS"


class BitReader:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.bit = pos * 8

    def read(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self.data[self.bit >> 3] if (self.bit >> 3) < len(self.data) else 0
            value = (value << 1) | ((byte >> (7 - (self.bit & 7))) & 1)
            self.bit += 1
        return value


def time_increment_bits(data: bytes) -> int | None:
    """Width of ``vop_time_increment`` from the first VOL header in ``data`` (None: no VOL header)."""
    pos = 0
    while True:
        pos = data.find(b"\x00\x00\x01", pos)
        if pos < 0 or pos + 4 >= len(data):
            return None
        if 0x20 <= data[pos + 3] <= 0x2F:
            break
        pos += 3
    r = BitReader(data, pos + 4)
    r.read(1)  # random_accessible_vol
    r.read(8)  # video_object_type_indication
    verid = 1
    if r.read(1):  # is_object_layer_identifier
        verid = r.read(4)
        r.read(3)
    if r.read(4) == 15:  # aspect_ratio_info: extended PAR
        r.read(16)
    if r.read(1):  # vol_control_parameters
        r.read(3)  # chroma_format, low_delay
        if r.read(1):  # vbv_parameters
            r.read(15 + 1 + 15 + 1 + 15 + 1 + 3 + 11 + 1 + 15 + 1)
    shape = r.read(2)
    if shape == 3 and verid != 1:
        r.read(4)
    r.read(1)  # marker
    resolution = r.read(16)
    return max(1, (resolution - 1).bit_length())


@dataclass(frozen=True)
class Vop:
    kind: str  # "I", "P", "B" or "S"
    coded: bool


def vops(data: bytes, increment_bits: int) -> list[Vop]:
    """The VOPs of one packet, in decode order."""
    found = []
    pos = data.find(VOP_START)
    while pos >= 0:
        r = BitReader(data, pos + 4)
        kind = VOP_TYPES[r.read(2)]
        while r.read(1):  # modulo_time_base
            if r.bit >= len(data) * 8:
                break
        r.read(1)  # marker
        r.read(increment_bits)
        r.read(1)  # marker
        found.append(Vop(kind, bool(r.read(1))))
        pos = data.find(VOP_START, pos + 4)
    return found


MAX_NVOP_SIZE = 19  # bytes: FFmpeg's unpacking drops a one-VOP packet this small after a packed one


class DisplayOrder:
    """Feed packets in decode order; learns each packet's first displayed frame index and the count of
    frames the decoder outputs (the rules of the module docstring).

    ``first_frame[packet]`` is the display index of the packet's first VOP, for packets whose first VOP
    produces a frame. ``idle`` is true while the unpacking holds no VOP back: only a keyframe that
    arrives then may be a seek point (after a seek the unpacking starts empty, as it was here).
    """

    def __init__(self) -> None:
        self.shown = 0
        self.pending: list[int | None] = []  # owners of the decoded reference frame awaiting display
        self.first_frame: dict[int, int] = {}  # packet number -> display index of its first VOP
        self.packed = False  # some packet holds two or more VOPs: the stream is read through the unpacking
        self.held: tuple[int | None, Vop] | None = None  # the VOP the unpacking holds back, with its owner
        self.discarded = 0  # coded VOPs the decoder never sees (a held VOP displaced, or left at the end)

    @property
    def idle(self) -> bool:
        return self.held is None

    def feed(self, packet_number: int, packet_vops: list[Vop], size: int) -> None:
        if len(packet_vops) >= 2:
            self.packed = True
            if self.held is not None:
                self.discarded += self.held[1].coded
            self._decode(packet_number, packet_vops[0])
            self.held = (None, packet_vops[1])
            self.discarded += sum(v.coded for v in packet_vops[2:])
        elif len(packet_vops) == 1 and self.held is not None:
            self._decode(*self.held)
            self.held = None if size <= MAX_NVOP_SIZE else (packet_number, packet_vops[0])
            if self.held is None:
                self.discarded += packet_vops[0].coded
        elif len(packet_vops) == 1:
            self._decode(packet_number, packet_vops[0])

    def finish(self) -> int:
        """The number of frames the decoder outputs."""
        if self.held is not None:  # nothing comes after it to release it
            self.discarded += self.held[1].coded
            self.held = None
        for waiting in self.pending:
            self._show(waiting)
        self.pending = []
        return self.shown

    def _decode(self, owner: int | None, vop: Vop) -> None:
        if not vop.coded:
            return
        if vop.kind == "B":
            self._show(owner)
        else:
            for waiting in self.pending:
                self._show(waiting)
            self.pending = [owner]

    def _show(self, owner: int | None) -> None:
        if owner is not None:
            self.first_frame[owner] = self.shown
        self.shown += 1
