"""What decoding a picture will cost, in memory and in CPU time, known from its header before any pixel is decoded.

Each number follows how the decoder Pillow calls really works, and each rate
was measured at the limits on this project's 2-core x86 machine
(``tests/test_image_limits.py`` measures every path again, in a fresh process):

- memory: the pixels in the mode Pillow decodes into, the copies a decoder
  makes, a conversion some modes need before they can be shrunk, and for a
  JPEG in several scans the whole picture's DCT coefficients (jpeg_layout);
- CPU: a rate per pixel for each decoder, a rate per byte where Pillow parses
  in Python (run-length BMP), and for JPEG a rate per block that each scan
  walks, since a scan costs a pass over its components however little it holds.
"""

from typing import NamedTuple

from PIL import Image

from clothing.decoding.jpeg_layout import JpegLayout

SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
# What Image.reduce needs a mode converted to before it can shrink it (it takes neither 1 nor 16-bit, and would
# average a palette's indices): a full-size copy, made by decode_image and counted here.
CONVERT_BEFORE_REDUCING = {"1": "L", "P": "RGBA", **dict.fromkeys(SIXTEEN_BIT_MODES, "I")}
_STORAGE_BYTES = {"1": 1, "L": 1, "P": 1, **dict.fromkeys(SIXTEEN_BIT_MODES, 2)}  # a pixel in Pillow; others 4
_PREMULTIPLIED_BY_REDUCE = {"RGBA", "LA"}  # Image.reduce makes a premultiplied copy of these


# A picture kept at full size (for a model whose resize needs every pixel, decode_image's reduce=False) is turned
# to RGB and turned upright at full size: bytes a pixel takes beyond its decoded storage, by mode (RGBA's is its
# copy, a white background and the composite), and the CPU those copies take.
_FULL_SIZE_EXTRA_BYTES = {"RGB": 4, "RGBA": 16, "LA": 16, "P": 16, "PA": 16, "I": 14,
                          **dict.fromkeys(SIXTEEN_BIT_MODES, 14)}  # others: a conversion to RGB and its copy, 8
NS_PER_FULL_SIZE_PIXEL = 20


def _peak_bytes_per_pixel(mode: str) -> int:
    """Bytes a pixel takes at the decode's peak: its own storage and every full-size copy made to shrink it."""
    if mode in CONVERT_BEFORE_REDUCING:
        return _STORAGE_BYTES[mode] + _peak_bytes_per_pixel(CONVERT_BEFORE_REDUCING[mode])
    return _STORAGE_BYTES.get(mode, 4) * (2 if mode in _PREMULTIPLIED_BY_REDUCE else 1)


# Copies of the pixels a decoder holds at once, measured: libwebp decodes into its own buffer, which Pillow
# copies twice; libavif holds the AV1 frame (YUV, up to 16 bits a sample) beside Pillow's RGB; Pillow's
# run-length BMP decoder collects the pixels in Python.
_DECODER_COPIES = {"WEBP": 4, "AVIF": 4, "bmp_rle": 3}

# CPU nanoseconds, measured here at the limits and rounded up by a fifth or more. An interlaced PNG's seven
# Adam7 passes are filtered and scattered apart, so it costs more a pixel than a plain one.
NS_PER_PIXEL = {"JPEG": 2, "MPO": 2, "PNG": 15, "PNG interlaced": 24, "GIF": 10, "WEBP": 20, "BMP": 6, "AVIF": 55,
                "bmp_rle": 180}
# Entropy decoding, which a dense file pays by the byte; Pillow's run-length BMP decoder is a Python loop.
NS_PER_FILE_BYTE = {"PNG": 10, "PNG interlaced": 10, "GIF": 10, "WEBP": 60, "AVIF": 60, "bmp_rle": 350}
NS_PER_JPEG_BYTE = {"sequential": 15, "progressive": 50, "arithmetic": 160}  # entropy decoding
NS_PER_BLOCK_VISIT = 55  # one scan over one 8x8 block: libjpeg decodes its (perhaps empty) share of the scan
NS_PER_BLOCK_OUTPUT = {False: 60, True: 500}  # a multi-scan JPEG's last pass, over every block; True: smoothed


class DecodeCost(NamedTuple):
    memory_bytes: int
    cpu_seconds: float


def decode_cost(img: Image.Image, file_bytes: int, jpeg: JpegLayout | None = None,
                full_size: bool = False) -> DecodeCost:
    """The peak memory and CPU time of decoding ``img``, opened (and drafted) but not yet loaded; with
    ``full_size``, kept at full size rather than shrunk."""
    width, height = img.size
    decoder = img.tile[0][0] if img.tile else img.format
    kind = decoder if decoder in NS_PER_PIXEL else img.format
    if kind == "PNG" and img.info.get("interlace"):
        kind = "PNG interlaced"
    copies = _DECODER_COPIES.get(decoder, _DECODER_COPIES.get(img.format, 1))
    if full_size:
        per_pixel = _STORAGE_BYTES.get(img.mode, 4) * copies + _FULL_SIZE_EXTRA_BYTES.get(img.mode, 8)
    else:
        per_pixel = _peak_bytes_per_pixel(img.mode) * copies
    memory = width * height * per_pixel
    nanoseconds = width * height * (NS_PER_PIXEL.get(kind, 20) + (NS_PER_FULL_SIZE_PIXEL if full_size else 0)) \
        + file_bytes * NS_PER_FILE_BYTE.get(kind, 0)
    if jpeg is not None:
        memory += jpeg.coefficient_bytes
        coding = "arithmetic" if jpeg.arithmetic else "progressive" if jpeg.progressive else "sequential"
        nanoseconds += file_bytes * NS_PER_JPEG_BYTE[coding] + jpeg.block_visits * NS_PER_BLOCK_VISIT
        if jpeg.multi_scan:
            nanoseconds += sum(jpeg.blocks(c) for c in jpeg.components) * NS_PER_BLOCK_OUTPUT[jpeg.smoothed]
    return DecodeCost(memory, nanoseconds / 1e9)
