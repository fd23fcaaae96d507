"""Decoding every accepted kind of picture into upright RGB, and refusing what is not one."""

import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from clothing.decoding.decode import decode_image
from clothing.errors import ImageTooLarge, NotAnImage
from clothing.model_input import InputPreparer, resize
from tests.conftest import IMAGES, ROOT

SIZE = 224


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.open(IMAGES / "pants-1.jpg").convert("RGB")


def encode(img: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "AVIF"])
def test_accepted_formats_decode_to_rgb(photo, fmt):
    img = decode_image(encode(photo, fmt), SIZE)
    assert img.mode == "RGB"
    assert img.size == photo.size


def test_gif_gives_its_first_frame(photo):
    frames = [photo, Image.new("RGB", photo.size, "red")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    first = np.asarray(decode_image(data, SIZE), dtype=np.float32)
    assert abs(first.mean() - np.asarray(photo, dtype=np.float32).mean()) < 10


def test_exif_orientation_is_applied(photo):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to view
    data = encode(photo, "JPEG", exif=exif)
    assert decode_image(data, SIZE).size == (photo.height, photo.width)


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "LA", "I;16"])
def test_other_modes_become_rgb(photo, mode):
    img = photo.convert(mode if mode != "I;16" else "L")
    if mode == "I;16":
        img = Image.fromarray(np.asarray(img).astype(np.uint16) * 257)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    decoded = decode_image(encode(img, fmt), SIZE)
    assert decoded.mode == "RGB" and decoded.size == photo.size
    assert 30 < np.asarray(decoded).mean() < 225  # neither clipped white nor black


def test_sixteen_bit_values_are_scaled_not_clipped():
    gray = Image.fromarray(np.full((8, 8), 32896, dtype=np.uint16))  # 128 * 257
    assert np.asarray(decode_image(encode(gray, "PNG"), SIZE))[0, 0].tolist() == [128, 128, 128]


def test_transparency_is_laid_on_white():
    clear = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert np.asarray(decode_image(encode(clear, "PNG"), SIZE))[0, 0].tolist() == [255, 255, 255]


def test_a_large_jpeg_is_scaled_down_while_decoding():
    big = Image.new("RGB", (4000, 3000), "gray")
    img = decode_image(encode(big, "JPEG"), SIZE)
    assert img.size == (500, 375)  # 1/8 scale, still at least SIZE a side


def test_pixel_limit_is_enforced_at_the_limit_from_the_header():
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    assert decode_image(data, SIZE, max_pixels=10_000).size == (100, 100)
    with pytest.raises(ImageTooLarge, match="10000 pixels; the limit is 9999"):
        decode_image(data, SIZE, max_pixels=9_999)


@pytest.mark.parametrize("side", [10_000, 20_000])  # past Pillow's warning, and past its error
def test_a_decompression_bomb_is_refused_quickly(side):
    bomb = encode(Image.new("1", (side, side)), "PNG")  # 100 or 400 megapixels in a small file
    assert len(bomb) < 1_000_000
    with pytest.raises(ImageTooLarge):
        decode_image(bomb, SIZE)


@pytest.mark.parametrize(
    "data",
    [b"", b"hello", b"<html>not a picture</html>", b"\xff\xd8\xff\xe0" + b"\0" * 100, b"GIF89a"],
)
def test_what_is_not_an_image_is_refused(data):
    with pytest.raises(NotAnImage):
        decode_image(data, SIZE)


def test_a_truncated_jpeg_is_refused(photo):
    data = encode(photo, "JPEG")
    with pytest.raises(NotAnImage):
        decode_image(data[: len(data) // 3], SIZE)


def test_tiff_is_not_an_accepted_format(photo):
    with pytest.raises(NotAnImage):
        decode_image(encode(photo, "TIFF"), SIZE)


def test_model_input_is_xception_scaled_nhwc_float32(photo):
    batch = InputPreparer(SIZE)(photo)
    assert batch.shape == (1, SIZE, SIZE, 3) and batch.dtype == np.float32
    expected = np.asarray(resize(photo, SIZE), dtype=np.float32) / 127.5 - 1
    np.testing.assert_allclose(batch[0], expected, atol=1e-6)


@pytest.mark.process
def test_a_first_request_loads_at_most_its_own_formats_decoder(photo, tmp_path):
    """JPEG, PNG, GIF and BMP load at import; a WebP or AVIF picture loads its own decoder, and no picture, or
    one of a format not accepted, makes Pillow load none of its other plugins."""
    for fmt in ["JPEG", "PNG", "WEBP", "GIF", "BMP", "AVIF", "TIFF"]:
        (tmp_path / fmt).write_bytes(encode(photo, fmt))
    (tmp_path / "text").write_bytes(b"not a picture")
    code = f"""
import json, pathlib, sys
from clothing.decoding.decode import decode_image
from clothing.errors import NotAnImage
loaded = {{}}
for path in sorted(pathlib.Path({str(tmp_path)!r}).iterdir()):
    before = set(sys.modules)
    try:
        decode_image(path.read_bytes(), 16)
    except NotAnImage:
        assert path.name in ("text", "TIFF")
    loaded[path.name] = sorted(m for m in set(sys.modules) - before if "Plugin" in m)
print(json.dumps(loaded))
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == {"AVIF": ["PIL.AvifImagePlugin"], "BMP": [], "GIF": [], "JPEG": [],
                                         "PNG": [], "TIFF": [], "WEBP": ["PIL.WebPImagePlugin"], "text": []}


@pytest.mark.parametrize("scaling", ["xception", "resnet50", "vgg16", "inception_v3"])
def test_each_of_keras_image_helpers_scalings_is_its_own_bit_for_bit(photo, scaling):
    """The scalings are written out (keras-image-helper loads urllib.request on import): the library's own
    preprocessor, given the same resize, makes the same batch."""
    from keras_image_helper import create_preprocessor

    theirs = create_preprocessor(scaling, (SIZE, SIZE))
    theirs.resize_image = lambda img: resize(img, SIZE)
    np.testing.assert_array_equal(InputPreparer(SIZE, scaling)(photo), theirs.convert_to_tensor(photo))


@pytest.mark.process
def test_a_picture_sent_in_the_request_loads_neither_keras_image_helper_nor_an_http_client():
    """Nor the address policy's socket and ipaddress: only a URL needs them."""
    code = """
import base64, sys
import lambda_function
lambda_function.lambda_handler({"image": base64.b64encode(open(sys.argv[1], "rb").read()).decode()})
print(sorted(m for m in ("keras_image_helper", "urllib.request", "http.client", "ssl", "socket", "ipaddress")
             if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code, str(IMAGES / "pants-1.jpg")], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_other_scalings_are_keras_image_helpers_and_unknown_ones_are_refused(photo):
    batch = InputPreparer(SIZE, "resnet50")(photo)
    pixels = np.asarray(resize(photo, SIZE), dtype=np.float32)
    np.testing.assert_allclose(batch[0], pixels[..., ::-1] - [103.939, 116.779, 123.68], atol=1e-4)  # BGR, mean
    assert batch.flags["C_CONTIGUOUS"]  # as the interpreter takes it
    with pytest.raises(ValueError, match="unknown input scaling 'sepia'"):
        InputPreparer(SIZE, "sepia")


def test_the_fetch_asks_for_exactly_the_formats_that_decode():
    """A CDN that negotiates formats sends one of these, and never one the function cannot decode."""
    from clothing.decoding.decode import ACCEPTED_FORMATS
    from clothing.fetch import HEADERS

    Image.init()  # every plugin, and with them each format's media type
    assert HEADERS["Accept"].split(", ") == [Image.MIME[fmt] for fmt in ACCEPTED_FORMATS]


def test_bilinear_resize_samples_at_pixel_centres_without_antialiasing():
    """As tf.image.resize(method="bilinear") and OpenCV's INTER_LINEAR: a reference written out with NumPy."""
    pixels = np.random.default_rng(0).integers(0, 256, (80, 100, 3), dtype=np.uint8)
    size = 37

    def taps(length):
        where = np.clip((np.arange(size) + 0.5) * length / size - 0.5, 0, length - 1)
        low = np.floor(where).astype(int)
        return low, np.minimum(low + 1, length - 1), (where - low)[:, None]

    (top, bottom, dy), (left, right, dx) = taps(80), taps(100)
    source = pixels.astype(np.float64)
    rows = source[top] * (1 - dy[..., None]) + source[bottom] * dy[..., None]
    expected = rows[:, left] * (1 - dx) + rows[:, right] * dx
    got = np.asarray(resize(Image.fromarray(pixels), size, "bilinear"), dtype=np.float64)
    assert np.abs(got - expected).max() <= 1.01
    antialiased = np.asarray(resize(Image.fromarray(pixels), size, "antialiased"), dtype=np.float64)
    assert np.abs(antialiased - expected).mean() > 5  # the default widens its filter: another picture
