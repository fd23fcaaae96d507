"""A JPEG's layout, read from its markers before libjpeg sees a byte: the frame, its components and its scans.

libjpeg decides what a decode costs from these markers (``jdinput.c``,
``jdcoefct.c``): a picture in more than one scan (progressive, or sequential
with its components in separate scans) keeps every DCT coefficient of the
full-size picture until its last scan, whatever output scale is asked for,
and every scan walks every block of the components it names, however little
data it carries. libjpeg only warns about repeated or bogus scans, so a small
file can hold thousands of them. Pillow reads the markers before the first
scan in Python, a byte at a time where there is junk between them.

This walk is the guard: it refuses what no encoder writes (more scans than
``MAX_SCANS``, more marker segments than ``MAX_SEGMENTS``, junk between
markers) and hands the rest to ``clothing.decoding.cost``. It steps over each
scan's entropy-coded data with one regular-expression search, in C, and stops
at the first scan of a baseline photo, the one scan libjpeg reads.
"""

import re
import struct
from typing import NamedTuple

from clothing.errors import ImageTooLarge, NotAnImage

# libjpeg's default progressive script writes 10 scans for colour, 6 for grey and 18 for CMYK
# (jcparam.c, jpeg_simple_progression); mozjpeg's optimised scripts and jpegtran keep within that.
MAX_SCANS = 32
# Markers of every kind, scans included: APPn, COM, DQT, DHT, DRI, SOF, SOS. Cameras write about 20;
# an ICC profile split into APP2 chunks adds one each 64 KB.
MAX_SEGMENTS = 512
MAX_JUNK_BYTES = 4096  # bytes between segments that are not a marker (libjpeg warns of "extraneous bytes")
BLOCK_BYTES = 64 * 2  # one 8x8 block of DCT coefficients, as libjpeg stores it (JCOEF is 16 bits)

_START_OF_FRAME = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # DHT, JPG and DAC share the range
_PROGRESSIVE = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_ARITHMETIC = frozenset(range(0xC9, 0xD0)) - {0xCC}
_SOS, _EOI, _SOI = 0xDA, 0xD9, 0xD8
_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01}  # RSTn and TEM carry no length
# The end of a scan's entropy-coded data: 0xFF then a byte that is neither a stuffed zero, RSTn nor fill.
# (Without a repeat, the regular expression engine scans the bytes in one pass, with no backtracking.)
_END_OF_ENTROPY_DATA = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


class Component(NamedTuple):
    id: int
    h: int  # horizontal sampling factor
    v: int  # vertical sampling factor


class Scan(NamedTuple):
    components: tuple[int, ...]  # their ids
    start: int  # the first coefficient of the spectral band (Ss)
    end: int  # the last (Se)
    low_bit: int  # the successive approximation's bit position (Al)


class JpegLayout(NamedTuple):
    width: int
    height: int
    progressive: bool
    arithmetic: bool
    components: tuple[Component, ...]
    scans: tuple[Scan, ...]  # in file order

    @property
    def multi_scan(self) -> bool:
        """libjpeg's ``has_multiple_scans``: the whole picture's coefficients are held until the end."""
        return self.progressive or len(self.scans[0].components) < len(self.components)

    def blocks(self, component: Component) -> int:
        """The 8x8 blocks libjpeg allocates for one component: padded to its sampling factors (jdcoefct.c)."""
        h_max = max(c.h for c in self.components)
        v_max = max(c.v for c in self.components)
        across = -(-self.width * component.h // (8 * h_max))
        down = -(-self.height * component.v // (8 * v_max))
        return -(-across // component.h) * component.h * (-(-down // component.v) * component.v)

    @property
    def coefficient_bytes(self) -> int:
        """Memory the whole-picture coefficient buffer takes; nothing when one pass decodes it."""
        return sum(self.blocks(c) for c in self.components) * BLOCK_BYTES if self.multi_scan else 0

    @property
    def block_visits(self) -> int:
        """Blocks walked by all scans together: each scan walks every block of the components it names."""
        by_id = {c.id: self.blocks(c) for c in self.components}
        return sum(by_id.get(component_id, 0) for scan in self.scans for component_id in scan.components)

    @property
    def smoothed(self) -> bool:
        """libjpeg's ``smoothing_ok``: a progressive picture whose DC and first 9 AC coefficients are not all
        complete (some bits never sent) is block-smoothed on output, which costs several times more a block."""
        if not self.progressive:
            return False
        for component in self.components:
            bits = [-1] * 10
            for scan in self.scans:
                if component.id in scan.components:
                    for k in range(scan.start, min(scan.end, 9) + 1):
                        bits[k] = scan.low_bit
            if bits[0] < 0:
                return False
            if any(bit != 0 for bit in bits[1:]):
                return True
        return False


def read_jpeg_layout(data: bytes) -> JpegLayout:
    """The layout of the JPEG in ``data``; ``ImageTooLarge`` or ``NotAnImage`` for what no encoder writes."""
    if data[:2] != b"\xff\xd8":
        raise NotAnImage("not a JPEG image")
    pos, segments, junk = 2, 0, 0
    frame = None
    scans: list[tuple[int, ...]] = []
    while True:
        marker_at = data.find(b"\xff", pos)
        if marker_at < 0:
            break  # truncated: libjpeg pads it as an end of image, and so do we
        junk += marker_at - pos
        while marker_at + 1 < len(data) and data[marker_at + 1] == 0xFF:  # fill bytes before a marker
            marker_at += 1
            junk += 1
        if junk > MAX_JUNK_BYTES:
            raise NotAnImage(f"the JPEG has more than {MAX_JUNK_BYTES} bytes of junk between its markers")
        if marker_at + 1 >= len(data):
            break
        marker = data[marker_at + 1]
        pos = marker_at + 2
        if marker == _EOI:
            break
        if marker in _STANDALONE or marker in (0x00, _SOI):
            continue
        segments += 1
        if segments > MAX_SEGMENTS:
            raise NotAnImage(f"the JPEG has more than {MAX_SEGMENTS} marker segments; encoders write a few dozen")
        if pos + 2 > len(data):
            break
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2:
            raise NotAnImage("the JPEG has a marker segment of a bad length")
        body = data[pos + 2:pos + length]
        pos += length
        if marker in _START_OF_FRAME and frame is None:
            frame = _frame(marker, body)
        elif marker == _SOS:
            if frame is None:
                raise NotAnImage("the JPEG has a scan before its frame header")
            scans.append(_scan(body))
            if len(scans) > MAX_SCANS:
                raise ImageTooLarge(f"the JPEG has more than {MAX_SCANS} scans; encoders write at most 18, and each "
                                    "scan costs a pass over the whole picture")
            if len(scans) == 1 and not frame.progressive and len(scans[0].components) == len(frame.components):
                break  # one interleaved scan holds the whole picture: libjpeg refuses any scan after it
            end = _END_OF_ENTROPY_DATA.search(data, pos)
            if end is None:
                break
            pos = end.start()
    if frame is None or not scans:
        raise NotAnImage("the JPEG has no frame header or no scan")
    return frame._replace(scans=tuple(scans))


def _scan(body: bytes) -> Scan:
    count = body[0] if body else 0
    if len(body) < 4 + 2 * count or count == 0:
        raise NotAnImage("the JPEG's scan header is cut short")
    start, end, approximation = body[1 + 2 * count:4 + 2 * count]
    return Scan(tuple(body[1 + 2 * i] for i in range(count)), start, end, approximation & 15)


def _frame(marker: int, body: bytes) -> JpegLayout:
    if len(body) < 6:
        raise NotAnImage("the JPEG's frame header is cut short")
    _precision, height, width, count = struct.unpack_from(">BHHB", body)
    if len(body) < 6 + 3 * count or count == 0:
        raise NotAnImage("the JPEG's frame header is cut short")
    components = tuple(Component(body[6 + 3 * i], body[7 + 3 * i] >> 4 or 1, body[7 + 3 * i] & 15 or 1)
                       for i in range(count))
    if width == 0 or height == 0:
        raise NotAnImage("the JPEG has no width or height in its frame header")
    return JpegLayout(width, height, marker in _PROGRESSIVE, marker in _ARITHMETIC, components, ())
