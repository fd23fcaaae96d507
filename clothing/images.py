"""Image decoding and model-input preparation, shared by training and serving.

Training prepares its images with these functions and the Lambda function
serves with them, so the model never sees pixels made another way.

The model input is keras-image-helper's (RGB, resized to the model's square
input, scaled as the model's settings file names: Xception's ``x / 127.5 - 1``
for this project's model, NHWC float32) with one documented improvement: the
resize is bilinear with antialiasing instead of nearest neighbour, which
aliases badly when a large photo shrinks to 224 pixels.
"""

import functools
import warnings
from io import BytesIO

import numpy as np
import PIL.WebPImagePlugin  # noqa: F401 - registers the WebP decoder: see below
from keras_image_helper.helper import preprocessors
from keras_image_helper.preprocessors import FunctionPreprocessor
from PIL import Image, ImageOps

from clothing.errors import ImageTooLarge, NotAnImage
from clothing.settings import DEFAULTS

_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def torch_scaling(pixels: np.ndarray) -> np.ndarray:
    """PyTorch's ImageNet normalisation, as its models expect (Keras calls this mode "torch")."""
    return (pixels / np.float32(255) - _IMAGENET_MEAN) / _IMAGENET_STD


# How a model's input is scaled, by the name its settings file gives: keras-image-helper's
# (xception, resnet50, vgg16, inception_v3), and PyTorch's.
SCALINGS = {**preprocessors, "torch": functools.partial(FunctionPreprocessor, func=torch_scaling)}

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
# Bytes a pixel takes at the decode's peak, by the mode Pillow decodes into: its own storage (1 byte for
# 1, L and P; 2 for 16-bit; 4 for the rest), plus the full-size copies made before the picture can be
# shrunk: 1 becomes L, and 16-bit becomes I, since Image.reduce takes neither; P becomes RGBA; RGBA and LA
# are premultiplied by Image.reduce itself.
_PEAK_BYTES_PER_PIXEL = {"1": 2, "L": 1, "P": 9, "LA": 8, "RGBA": 8, **dict.fromkeys(_SIXTEEN_BIT_MODES, 6)}
_CONVERT_BEFORE_REDUCING = {"1": "L", "P": "RGBA", **dict.fromkeys(_SIXTEEN_BIT_MODES, "I")}
# Copies of the pixels a decoder holds at once, measured (tests/test_image_limits.py): libwebp decodes into
# its own buffer, which Pillow copies twice; Pillow's run-length BMP decoder collects the pixels in Python.
_DECODER_COPIES = {"WEBP": 4, "bmp_rle": 3}

# The decoders of every accepted format, loaded now, at cold start. Left to Image.open,
# the first request would load five of them, and the first request for a format not
# among those five (or for no image at all) would make Pillow load its forty-odd plugins.
Image.preinit()


def resize(img: Image.Image, size: int) -> Image.Image:
    """Resize to the model's square input: bilinear, antialiased when shrinking."""
    return img.resize((size, size), Image.Resampling.BILINEAR)


def decode_cost(img: Image.Image) -> int:
    """Bytes the decode of ``img`` holds at its peak, from its header: pixels, the decoder's copies, a conversion."""
    width, height = img.size
    decoder = img.tile[0][0] if img.tile else img.format
    copies = _DECODER_COPIES.get(decoder, _DECODER_COPIES.get(img.format, 1))
    return width * height * _PEAK_BYTES_PER_PIXEL.get(img.mode, 4) * copies


def decode_image(data: bytes, size: int, max_pixels: int = DEFAULTS.max_image_pixels,
                 max_decode_bytes: int = DEFAULTS.max_decode_bytes) -> Image.Image:
    """Decode image bytes into an upright RGB picture at least ``size`` pixels a side.

    Both limits are checked from the header, before any pixel is decoded: the
    pixel count, and the memory the decode would take (``decode_cost``). JPEGs
    are scaled down by the decoder itself (``draft``), so a 12-megapixel photo
    costs an eighth of its pixels; other formats are shrunk right after decoding,
    before any conversion copies them.
    """
    try:
        with warnings.catch_warnings():  # Pillow warns below its own limit; ours comes next
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError:
        raise ImageTooLarge(f"the image has far more than the limit of {max_pixels} pixels") from None
    except (OSError, ValueError, SyntaxError):
        raise NotAnImage("not a JPEG, PNG, WebP, GIF or BMP image") from None
    width, height = img.size
    if width * height > max_pixels:
        raise ImageTooLarge(f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}")
    try:
        img.draft("RGB", (size, size))
        cost = decode_cost(img)
        if cost > max_decode_bytes:
            raise ImageTooLarge(f"decoding this {width}x{height} {img.format} image would take {cost // 2**20} MiB; "
                                f"the limit is {max_decode_bytes // 2**20} MiB")
        img = ImageOps.exif_transpose(_shrink(img, size), in_place=False)
        return _to_rgb(img)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        raise NotAnImage("the image data is damaged or truncated") from None


def _shrink(img: Image.Image, size: int) -> Image.Image:
    """Each side cut to at most about twice ``size`` (box filter), so that what comes after copies little.

    Each side is reduced on its own, so an image of 50,000,000 x 1 shrinks too.
    """
    factors = tuple(max(1, side // (2 * size)) for side in img.size)
    if factors == (1, 1):
        img.load()
        return img
    if img.mode in _CONVERT_BEFORE_REDUCING:
        img = img.convert(_CONVERT_BEFORE_REDUCING[img.mode])
    return img.reduce(factors)


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is laid on white."""
    if img.mode in _SIXTEEN_BIT_MODES or img.mode == "I":
        # Pillow clips 16-bit values when it converts to 8 bits; scale instead.
        pixels = np.asarray(img, dtype=np.float32) / 257.0
        img = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "L")
    if img.mode == "P" or img.mode in ("LA", "PA", "RGBA", "La", "RGBa"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return img if img.mode == "RGB" else img.convert("RGB")


class InputPreparer:
    """Turns a decoded picture into the model's input batch; built once, reused.

    ``scaling`` names one of keras-image-helper's preprocessors (``SCALINGS``);
    its resize is replaced by ``resize``, antialiased, instead of nearest neighbour.
    """

    def __init__(self, size: int, scaling: str = "xception"):
        if scaling not in SCALINGS:
            raise ValueError(f"unknown input scaling {scaling!r}; known: {', '.join(SCALINGS)}")
        self.size = size
        self._preprocessor = SCALINGS[scaling]((size, size))
        self._preprocessor.resize_image = lambda img: resize(img, size)

    def __call__(self, img: Image.Image) -> np.ndarray:
        return np.ascontiguousarray(self._preprocessor.convert_to_tensor(img))

    def scale(self, pixels: np.ndarray) -> np.ndarray:
        """The scaling alone, of float32 pixels (any shape), in place where it can."""
        return self._preprocessor.preprocess(pixels)
