"""Image decoding and model-input preparation, shared by training and serving.

Training prepares its images with these functions and the Lambda function
serves with them, so the model never sees pixels made another way.

The model input is keras-image-helper's Xception mode (RGB, resized to the
model's square input, ``x / 127.5 - 1``, NHWC float32) with one documented
improvement: the resize is bilinear with antialiasing instead of nearest
neighbour, which aliases badly when a large photo shrinks to 224 pixels.
"""

import warnings
from io import BytesIO

import numpy as np
import PIL.WebPImagePlugin  # noqa: F401 - registers the WebP decoder: see below
from keras_image_helper.preprocessors import XceptionPreprocessor
from PIL import Image, ImageOps

from clothing.errors import ImageTooLarge, NotAnImage

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
DEFAULT_MAX_PIXELS = 40_000_000
_SIXTEEN_BIT_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N"}

# The decoders of every accepted format, loaded now, at cold start. Left to Image.open,
# the first request would load five of them, and the first request for a format not
# among those five (or for no image at all) would make Pillow load its forty-odd plugins.
Image.preinit()


def resize(img: Image.Image, size: int) -> Image.Image:
    """Resize to the model's square input: bilinear, antialiased when shrinking."""
    return img.resize((size, size), Image.Resampling.BILINEAR)


class SmoothXceptionPreprocessor(XceptionPreprocessor):
    """Xception scaling after ``resize`` instead of keras-image-helper's nearest neighbour."""

    def resize_image(self, img: Image.Image) -> Image.Image:
        return resize(img, self.target_size[0])


def decode_image(data: bytes, size: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode image bytes into an upright RGB picture at least ``size`` pixels a side.

    JPEGs are scaled down by the decoder itself (``draft``), so a 12-megapixel
    photo never costs a full-size decode. Pictures larger than ``max_pixels``
    are refused from their header, before any pixel is decoded.
    """
    try:
        with warnings.catch_warnings():  # Pillow warns below its own limit; ours comes next
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError as error:
        raise ImageTooLarge(str(error)) from None
    except (OSError, ValueError, SyntaxError) as error:
        raise NotAnImage(f"not a JPEG, PNG, WebP, GIF or BMP image ({error})") from None
    width, height = img.size
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}"
        )
    try:
        img.draft("RGB", (size, size))
        img = ImageOps.exif_transpose(img)
        return _to_rgb(img)
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise NotAnImage(f"the image data is damaged ({error})") from None


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is laid on white."""
    if img.mode in _SIXTEEN_BIT_MODES:
        # Pillow clips 16-bit values when it converts to 8 bits; scale instead.
        pixels = np.asarray(img, dtype=np.float32) / 257.0
        img = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "L")
    if img.mode == "P" or img.mode in ("LA", "PA", "RGBA", "La", "RGBa"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return img if img.mode == "RGB" else img.convert("RGB")


class InputPreparer:
    """Turns a decoded picture into the model's input batch; built once, reused."""

    def __init__(self, size: int):
        self.size = size
        self._preprocessor = SmoothXceptionPreprocessor((size, size))

    def __call__(self, img: Image.Image) -> np.ndarray:
        return self._preprocessor.convert_to_tensor(img)

    def scale(self, pixels: np.ndarray) -> np.ndarray:
        """Xception scaling of float32 pixels (any shape), in place."""
        return self._preprocessor.preprocess(pixels)
