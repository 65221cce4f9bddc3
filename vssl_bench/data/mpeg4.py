"""MPEG-4 part 2 (XviD/DivX) stream structure, read from packet headers without decoding.

Why: UCF101 and HMDB51 are AVIs, and AVI stores no presentation timestamps. FFmpeg derives them with a
parser that a DivX "packed B-frames" stream confuses (a reference VOP and the next B-VOP share one
packet, and a few-byte not-coded VOP fills the B-frame's slot), so decoded frames carry timestamps that
are not in display order. The display order itself follows from the VOP types alone:

- a not-coded VOP (``vop_coded == 0``) produces no frame;
- a B-VOP is shown as soon as it is decoded;
- a reference VOP (I, P, S) is shown when the next reference VOP is decoded (or at the end).

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


class DisplayOrder:
    """Feed packets in decode order; learns each packet's first displayed frame index and the count.

    ``feed`` returns the display index of the packet's own reference or B frame that it starts with
    (``None`` for a packet that yields no frame of its own, such as a not-coded VOP).
    """

    def __init__(self) -> None:
        self.shown = 0
        self.pending: list[int] = []  # packets whose reference frame waits for the next reference
        self.first_frame: dict[int, int] = {}  # packet number -> display index of its first VOP
        self.packed = False

    def feed(self, packet_number: int, packet_vops: list[Vop]) -> None:
        coded = [v for v in packet_vops if v.coded]
        if len(coded) > 1:
            self.packed = True
        for n, vop in enumerate(coded):
            owner = packet_number if n == 0 else None
            if vop.kind == "B":
                self._show(owner)
            else:
                for waiting in self.pending:
                    self._show(waiting)
                self.pending = [owner]

    def finish(self) -> int:
        for waiting in self.pending:
            self._show(waiting)
        self.pending = []
        return self.shown

    def _show(self, owner: int | None) -> None:
        if owner is not None:
            self.first_frame[owner] = self.shown
        self.shown += 1
