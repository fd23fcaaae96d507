"""PNG chunks and GIF blocks, counted before Pillow's parsers loop over them in Python.

Pillow reads a PNG's chunks and a GIF's extension blocks one by one in
Python, so a file of nothing but empty chunks or one-byte blocks costs it
seconds of CPU (tests/test_image_limits.py builds such files). Encoders write
a few dozen chunks (libpng cuts the pixels into 8 KB IDAT chunks) and a few
extension blocks, so these counts refuse only what no encoder writes.
"""

import struct

from clothing.errors import NotAnImage

MAX_PNG_CHUNKS = 20_000
MAX_GIF_BLOCKS = 10_000  # data sub-blocks before the first picture: comments, XMP, application data

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_png_chunks(data: bytes) -> None:
    """Refuse a PNG with more chunks than ``MAX_PNG_CHUNKS``; a cut-short one is left to Pillow."""
    pos, count = len(PNG_SIGNATURE), 0
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        count += 1
        if count > MAX_PNG_CHUNKS:
            raise NotAnImage(f"the PNG has more than {MAX_PNG_CHUNKS} chunks; encoders write a few dozen")
        if kind == b"IEND":
            return
        pos += 12 + length


def check_gif_blocks(data: bytes) -> None:
    """Refuse a GIF with more than ``MAX_GIF_BLOCKS`` data sub-blocks before its first picture."""
    if len(data) < 13:
        return
    pos = 13
    if data[10] & 0x80:  # a global colour table of 2^(n+1) entries follows the screen descriptor
        pos += 3 << ((data[10] & 7) + 1)
    blocks = 0
    while pos < len(data) and data[pos] == 0x21:  # an extension: its label, then sub-blocks until an empty one
        pos += 2
        while pos < len(data) and data[pos]:
            blocks += 1
            if blocks > MAX_GIF_BLOCKS:
                raise NotAnImage(f"the GIF has more than {MAX_GIF_BLOCKS} data blocks before its first picture")
            pos += 1 + data[pos]
        pos += 1
