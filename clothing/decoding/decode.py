"""Decoding a picture within the memory and CPU budgets, from what its header says, before a pixel is decoded.

The structure checks (``jpeg_layout``, ``chunk_counts``) count what the decoders would loop over, ``cost``
estimates the memory and CPU time a decode takes, and ``decode_image`` refuses what is over budget, stops what
outlasts its deadline, and gives an upright RGB picture a little larger than the model's input.
"""

import time
import warnings
from io import BytesIO

import numpy as np
from PIL import Image, ImageOps

from clothing.decoding.chunk_counts import PNG_SIGNATURE, check_gif_blocks, check_png_chunks
from clothing.decoding.cost import CONVERT_BEFORE_REDUCING, SIXTEEN_BIT_MODES, decode_cost
from clothing.decoding.jpeg_layout import JpegLayout, read_jpeg_layout
from clothing.errors import ImageTooLarge, NotAnImage
from clothing.settings import DEFAULTS

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "AVIF")
# What the fetch's Accept header names, so that a content-negotiating CDN sends only what decodes here.
MEDIA_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp", "image/avif")

# The decoders of JPEG, PNG, GIF and BMP, loaded now, at cold start: left to Image.open, the first request
# would load them. WebP's and AVIF's load on the first picture whose header names them (``load_decoder``):
# their libraries (libwebp; libavif and its AV1 decoder) cost every cold start time and memory for formats few
# pictures come in. Image.open is only ever asked for loaded formats: asked for one not loaded, Pillow would
# load its forty-odd plugins.
Image.preinit()


class _DecodeStopped(Exception):
    """The decode ran past its deadline; raised from the reader Pillow pulls the file through."""


class _DeadlineReader(BytesIO):
    """The image bytes, refused to the decoder once the deadline has passed.

    Pillow feeds its decoders 64 KB at a time through ``read`` (and parses PNG
    and GIF through it in Python), so a decode that outlasts its estimate stops
    at the next read instead of running into the function's timeout.
    """

    def __init__(self, data: bytes, deadline: float):
        super().__init__(data)
        self.deadline = deadline

    def read(self, size: int | None = -1) -> bytes:
        if time.monotonic() > self.deadline:
            raise _DecodeStopped
        return super().read(size)


def load_decoder(data: bytes) -> tuple[str, ...]:
    """Load WebP's or AVIF's decoder where the file's first bytes name the format; the accepted formats now
    loaded, the only ones to ask Pillow for."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        import PIL.WebPImagePlugin  # noqa: F401, PLC0415 - registers the WebP decoder
    elif data[4:8] == b"ftyp":  # an ISO media file: AVIF, or HEIF or MP4, which the AVIF decoder refuses
        from PIL import AvifImagePlugin  # noqa: PLC0415

        # libavif decodes on every core it finds; one thread keeps its CPU time the one decode_cost counts.
        AvifImagePlugin.DEFAULT_MAX_THREADS = 1
    return tuple(fmt for fmt in ACCEPTED_FORMATS if fmt in Image.OPEN)


def check_structure(data: bytes) -> JpegLayout | None:
    """Count what Pillow's parsers and libjpeg would loop over; the JPEG's layout, or None for other formats."""
    if data[:3] == b"\xff\xd8\xff":
        return read_jpeg_layout(data)
    if data[:8] == PNG_SIGNATURE:
        check_png_chunks(data)
    elif data[:6] in (b"GIF87a", b"GIF89a"):
        check_gif_blocks(data)
    return None


def decode_image(data: bytes, size: int, max_pixels: int = DEFAULTS.max_image_pixels,
                 max_decode_bytes: int = DEFAULTS.max_decode_bytes,
                 max_decode_seconds: float = DEFAULTS.max_decode_seconds,
                 deadline: float | None = None, cpu_share: float = 1.0, reduce: bool = True) -> Image.Image:
    """Decode image bytes into an upright RGB picture at least ``size`` pixels a side.

    Every limit is checked before any pixel is decoded: the file's structure
    (``check_structure``), the pixel count, and the memory and CPU time the
    decode would take (``decode_cost``). Where a ``deadline`` is given (a
    ``time.monotonic()`` value), a decode that would outlast it at
    ``cpu_share`` of a CPU is refused, and one that outlasts it anyway is
    stopped at the next read of its file. JPEGs are
    scaled down by the decoder itself (``draft``), so a 12-megapixel photo
    costs an eighth of its pixels; other formats are shrunk right after
    decoding, before any conversion copies them. With ``reduce=False``
    neither happens: the picture keeps every pixel, for a model whose resize
    picks or samples single pixels (``model_input.REDUCIBLE_RESIZES``), and
    one too costly at full size is refused as too large for such a model.
    """
    jpeg = check_structure(data)
    seconds = max_decode_seconds if deadline is None else min(max_decode_seconds,
                                                              (deadline - time.monotonic()) * cpu_share)
    reader = _DeadlineReader(data, float("inf") if deadline is None else deadline)
    try:
        with warnings.catch_warnings():  # Pillow warns below its own limit; ours comes next
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(reader, formats=load_decoder(data))
    except Image.DecompressionBombError:
        raise ImageTooLarge(f"the image has far more than the limit of {max_pixels} pixels") from None
    except _DecodeStopped:
        raise ImageTooLarge("the function ran out of time reading the image's header") from None
    except (OSError, ValueError, SyntaxError):
        raise NotAnImage("not a JPEG, PNG, WebP, GIF, BMP or AVIF image") from None
    width, height = img.size
    if width * height > max_pixels:
        raise ImageTooLarge(f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}")
    try:
        if reduce:
            img.draft("RGB", (size, size))
        cost = decode_cost(img, len(data), jpeg, full_size=not reduce)
        decoding = f"decoding this {width}x{height} {img.format} image{'' if reduce else ' at full size'}"
        if cost.memory_bytes > max_decode_bytes:
            raise ImageTooLarge(f"{decoding} would take {cost.memory_bytes // 2**20} MiB; the limit is "
                                f"{max_decode_bytes // 2**20} MiB{_for_this_model(reduce)}")
        if cost.cpu_seconds > seconds:
            raise ImageTooLarge(f"{decoding} would take about {cost.cpu_seconds:.1f} s of CPU; "
                                f"{_budget_name(seconds, max_decode_seconds)}{_for_this_model(reduce)}")
        if jpeg is not None and jpeg.arithmetic:
            img.decodermaxblock = len(data)  # libjpeg's arithmetic decoder cannot wait for more input
        if not reduce:
            img.load()
            return ImageOps.exif_transpose(_to_rgb(img), in_place=False)
        img = ImageOps.exif_transpose(_shrink(img, size), in_place=False)
        return _to_rgb(img)
    except _DecodeStopped:
        raise ImageTooLarge(f"decoding this {width}x{height} {img.format} image was stopped: the function "
                            "ran out of time") from None
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        raise NotAnImage("the image data is damaged or truncated") from None


def _for_this_model(reduce: bool) -> str:
    return "" if reduce else " (this model's resize needs every pixel: send a smaller picture)"


def _budget_name(seconds: float, max_decode_seconds: float) -> str:
    if seconds < max_decode_seconds:
        return f"the function has {max(seconds, 0):.1f} s of CPU left before its deadline"
    return f"the limit is {max_decode_seconds:g} s"


def _shrink(img: Image.Image, size: int) -> Image.Image:
    """Each side cut to at most about twice ``size`` (box filter), so that what comes after copies little.

    Each side is reduced on its own, so an image of 50,000,000 x 1 shrinks too.
    """
    factors = tuple(max(1, side // (2 * size)) for side in img.size)
    if factors == (1, 1):
        img.load()
        return img
    if img.mode in CONVERT_BEFORE_REDUCING:
        img = img.convert(CONVERT_BEFORE_REDUCING[img.mode])
    return img.reduce(factors)


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is laid on white."""
    if img.mode in SIXTEEN_BIT_MODES or img.mode == "I":
        # Pillow clips 16-bit values when it converts to 8 bits; scale instead.
        pixels = np.asarray(img, dtype=np.float32) / 257.0
        img = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "L")
    if img.mode == "P" or img.mode in ("LA", "PA", "RGBA", "La", "RGBa"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return img if img.mode == "RGB" else img.convert("RGB")
