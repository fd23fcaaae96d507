"""Pictures at and past the decode budgets, written by other encoders than Pillow where one is installed.

libjpeg-turbo's ``cjpeg`` and ``jpegtran``, libwebp's ``cwebp`` and
``img2webp``, libavif's ``avifenc`` and netpbm's ``pnmtopng`` (Debian's
libjpeg-turbo-progs, webp, libavif-bin and netpbm; ``.ci/run`` installs them)
write what the function will meet in the wild; mozjpeg comes from PyPI.
Shared by ``tests/test_image_limits.py`` and ``benchmarks/soak.py``.
"""

import io
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ENCODERS = {"cjpeg": "libjpeg-turbo-progs", "jpegtran": "libjpeg-turbo-progs", "cwebp": "webp",
            "img2webp": "webp", "avifenc": "libavif-bin", "pnmtopng": "netpbm"}


def encoder(name: str) -> str:
    """The encoder's path; a skip where it is missing, a failure where REQUIRE_ENCODERS is set (CI)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (apt-get install {ENCODERS[name]})"
        if os.environ.get("REQUIRE_ENCODERS"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def photo_like(width: int, height: int, seed: int = 0) -> np.ndarray:
    """RGB gradients with light noise: compresses as photos do, at any size, in a second for 50 megapixels."""
    rows = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    cols = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[..., 0] = cols
    pixels[..., 1] = rows
    pixels[..., 2] = (rows + cols) / 2
    noise = np.random.default_rng(seed).integers(0, 8, (height, width), dtype=np.uint8)
    pixels += noise[..., None]
    return pixels


def write_ppm(path: Path, pixels: np.ndarray) -> Path:
    """``pixels`` as an encoder's input file, PPM or PNG as the suffix says (a PNG at zlib's quickest level: the
    encoder reads the same pixels either way)."""
    Image.fromarray(pixels).save(path, **({"compress_level": 1} if path.suffix == ".png" else {}))
    return path


def run(*command: str | Path, stdin: Path | None = None) -> bytes:
    """An encoder's output on standard output."""
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as source:
        return subprocess.run([str(part) for part in command], stdin=source, capture_output=True,
                              check=True, timeout=120).stdout


def cjpeg(ppm: Path, *options: str) -> bytes:
    return run(encoder("cjpeg"), *options, ppm)


def jpegtran(jpeg: bytes, tmp: Path, *options: str) -> bytes:
    source = tmp / "jpegtran-in.jpg"
    source.write_bytes(jpeg)
    return run(encoder("jpegtran"), *options, source)


def cwebp(ppm: Path, tmp: Path, *options: str) -> bytes:
    out = tmp / "cwebp.webp"
    run(encoder("cwebp"), "-quiet", *options, ppm, "-o", out)
    return out.read_bytes()


def img2webp(frames: list[Path], tmp: Path) -> bytes:
    out = tmp / "animated.webp"
    run(encoder("img2webp"), "-lossless", *frames, "-o", out)
    return out.read_bytes()


def avifenc(png: Path, tmp: Path, *options: str) -> bytes:
    out = tmp / "avifenc.avif"
    run(encoder("avifenc"), "--speed", "10", "--jobs", "2", *options, png, out)
    return out.read_bytes()


def pnmtopng(ppm: Path, *options: str) -> bytes:
    return run(encoder("pnmtopng"), *options, stdin=ppm)


def scans(jpeg: bytes) -> list[bytes]:
    """Each scan of a JPEG, its SOS segment and entropy-coded data: the file between one SOS and the next."""
    starts = [match.start() for match in re.finditer(rb"\xff\xda", jpeg)]
    return [jpeg[start:end] for start, end in zip(starts, [*starts[1:], len(jpeg) - 2], strict=True)]


def with_repeated_scan(jpeg: bytes, times: int) -> bytes:
    """The JPEG with its last scan sent ``times`` more: libjpeg warns and walks every block each time."""
    return jpeg[:-2] + scans(jpeg)[-1] * times + b"\xff\xd9"


def first_scan_only(jpeg: bytes) -> bytes:
    """A progressive JPEG cut after its DC scan: libjpeg block-smooths every block of it on output."""
    first = scans(jpeg)[0]
    return jpeg[:jpeg.index(first)] + first + b"\xff\xd9"


def with_comments(jpeg: bytes, count: int) -> bytes:
    """Empty COM segments after the first one, which Pillow parses one by one in Python."""
    first_end = 4 + int.from_bytes(jpeg[4:6], "big")
    return jpeg[:first_end] + b"\xff\xfe\x00\x02" * count + jpeg[first_end:]


def with_junk(jpeg: bytes, count: int) -> bytes:
    """Zero bytes between two segments: libjpeg warns, Pillow skips them a byte at a time in Python."""
    first_end = 4 + int.from_bytes(jpeg[4:6], "big")
    return jpeg[:first_end] + b"\x00" * count + jpeg[first_end:]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_chunks(count: int) -> bytes:
    """A 16x16 PNG followed by ``count`` empty private chunks, each one a turn of Pillow's Python loop."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(out, "PNG")
    png = out.getvalue()
    return png[:-12] + png_chunk(b"prIv", b"") * count + png[-12:]


def gif_with_blocks(count: int) -> bytes:
    """A 16x16 GIF whose comment extension holds ``count`` one-byte sub-blocks before the picture."""
    out = io.BytesIO()
    Image.new("P", (16, 16)).save(out, "GIF")
    gif = out.getvalue()
    picture = gif.index(b"\x2c", 13)
    return gif[:picture] + b"\x21\xfe" + b"\x01a" * count + b"\x00" + gif[picture:]


def rle8_bmp(width: int, height: int, rows: bytes | None = None) -> bytes:
    """A run-length-encoded 8-bit BMP; by default one grey, a few bytes a row whatever the width."""
    if rows is None:
        encoded = bytearray()
        for _ in range(height):
            left = width
            while left:
                run_length = min(255, left)
                encoded += bytes([run_length, 1])
                left -= run_length
            encoded += bytes([0, 0])
        rows = bytes(encoded + bytes([0, 1]))
    palette = b"".join(bytes([i, i, i, 0]) for i in range(256))
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(rows), 2835, 2835, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(rows), 0, 0, offset) + info + palette + rows


def rle8_bmp_padded_rows(width: int, height: int) -> bytes:
    """One pixel then an end of line on every row: Pillow pads each row a byte at a time in Python."""
    return rle8_bmp(width, height, b"\x01\x07\x00\x00" * height + b"\x00\x01")
