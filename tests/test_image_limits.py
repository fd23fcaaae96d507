"""Hostile pictures stay inside the function's memory and CPU: each accepted format at its decode budget.

Every case runs in a fresh process that has already decoded one picture, and
reports how far its resident memory's high-water mark (VmHWM) rose.
"""

import io
import json
import math
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from clothing.errors import ImageTooLarge
from clothing.images import decode_cost, decode_image
from clothing.settings import DEFAULTS
from tests.conftest import IMAGES, ROOT

PEAK_ABOVE_IDLE_MB = 208  # the stated ceiling: the 192 MiB decode budget, and 16 MiB for what follows it
CPU_SECONDS = 3.0

MEASURE = """
import json, sys, time
from clothing.images import InputPreparer, decode_image
from clothing.errors import ImageTooLarge
def high_water_mb():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
prepare = InputPreparer(224)
prepare(decode_image(open(sys.argv[2], "rb").read(), 224))
data = open(sys.argv[1], "rb").read()
idle, started = high_water_mb(), time.process_time()
try:
    prepare(decode_image(data, 224))
    outcome = "decoded"
except ImageTooLarge:
    outcome = "ImageTooLarge"
print(json.dumps({"outcome": outcome, "peak": high_water_mb() - idle, "cpu": time.process_time() - started}))
"""


def rle8_bmp(width: int, height: int) -> bytes:
    """A run-length-encoded 8-bit BMP of one grey: a few bytes a row, whatever the width."""
    rows = bytearray()
    for _ in range(height):
        left = width
        while left:
            run = min(255, left)
            rows += bytes([run, 1])
            left -= run
        rows += bytes([0, 0])
    rows += bytes([0, 1])
    palette = b"".join(bytes([i, i, i, 0]) for i in range(256))
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(rows), 2835, 2835, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(rows), 0, 0, offset) + info + palette + bytes(rows)


def encoded(fmt: str, mode: str, width: int, height: int) -> bytes:
    if fmt == "BMP-RLE":
        return rle8_bmp(width, height)
    if mode == "I;16":
        img = Image.fromarray(np.full((height, width), 30000, np.uint16))
    else:
        img = Image.new(mode, (width, height), 1 if mode in ("1", "P", "L") else (200, 30, 30, 128)[:len(mode)])
    out = io.BytesIO()
    img.save(out, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    return out.getvalue()


def side_at_budget(fmt: str, mode: str) -> int:
    """The largest square side that both default limits accept: the pixel count and the decode cost."""
    per_pixel = decode_cost(Image.open(io.BytesIO(encoded(fmt, mode, 1, 1))))
    return min(math.isqrt(DEFAULTS.max_image_pixels), math.isqrt(DEFAULTS.max_decode_bytes // per_pixel))


CASES = [("PNG", "RGB"), ("PNG", "RGBA"), ("PNG", "P"), ("PNG", "L"), ("PNG", "LA"), ("PNG", "I;16"),
         ("PNG", "1"), ("GIF", "P"), ("WEBP", "RGB"), ("WEBP", "RGBA"), ("BMP", "RGB"), ("BMP-RLE", "P"),
         ("JPEG", "RGB")]


@pytest.mark.parametrize(("fmt", "mode"), CASES, ids=[f"{f}-{m}" for f, m in CASES])
def test_a_picture_at_the_decode_budget_stays_under_the_stated_peak_and_cpu_time(tmp_path, fmt, mode):
    side = side_at_budget(fmt, mode)
    picture = tmp_path / "picture"
    picture.write_bytes(encoded(fmt, mode, side, side))
    result = subprocess.run([sys.executable, "-c", MEASURE, str(picture), str(IMAGES / "hat-1.jpg")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=True)
    measured = json.loads(result.stdout)
    print(f"{fmt} {mode} {side}x{side}: {measured}")
    assert measured["outcome"] == "decoded"
    assert measured["peak"] < PEAK_ABOVE_IDLE_MB, measured
    assert measured["cpu"] < CPU_SECONDS, measured


@pytest.mark.parametrize(("fmt", "mode"), CASES, ids=[f"{f}-{m}" for f, m in CASES])
def test_a_few_rows_more_than_a_limit_are_refused_from_the_header(fmt, mode):
    side = side_at_budget(fmt, mode)
    with pytest.raises(ImageTooLarge, match="the limit is"):
        decode_image(encoded(fmt, mode, side, side + 2), 224)


def test_an_image_of_fifty_million_by_one_is_cheap():
    decoded = decode_image(rle8_bmp(5_000_000, 1), 224)
    assert decoded.mode == "RGB" and decoded.width <= 2 * 224 * 2
