"""The model's input, as its settings file says it was prepared in training; shared by training and serving.

Training prepares its images with these functions and the Lambda function serves with them, so the model never
sees pixels made another way: RGB, resized to the model's square input, scaled as the settings file names
(Xception's ``x / 127.5 - 1`` for this project's model), NHWC float32, as keras-image-helper prepares it. The
resize is the one the settings file names too: antialiased bilinear for this project's model, rather than the
nearest neighbour of keras-image-helper, which aliases badly when a large photo shrinks to 240 pixels; nearest
or plain bilinear for models trained so.

keras-image-helper's scalings are written out here rather than imported: the package loads
``urllib.request`` (and with it http.client, ssl and email) on import, a large part of a cold start for a few
lines of arithmetic. tests/test_images.py checks each against keras-image-helper's own, bit for bit.
"""

import numpy as np
from PIL import Image

from clothing.decoding.decode import decode_image

_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)  # keras.applications' "caffe" mode, as keras-image-helper has it


def tf_scaling(pixels: np.ndarray) -> np.ndarray:
    """Keras's "tf" mode, ``x / 127.5 - 1`` (keras-image-helper's xception and inception_v3), in place."""
    pixels /= 127.5
    pixels -= 1.0
    return pixels


def caffe_scaling(pixels: np.ndarray) -> np.ndarray:
    """Keras's "caffe" mode (keras-image-helper's resnet50 and vgg16): BGR, less ImageNet's mean, in place."""
    bgr = pixels[..., ::-1]
    for channel, mean in enumerate(_CAFFE_BGR_MEAN):
        bgr[..., channel] -= mean
    return bgr


def torch_scaling(pixels: np.ndarray) -> np.ndarray:
    """PyTorch's ImageNet normalisation, as its models expect (Keras calls this mode "torch")."""
    return (pixels / np.float32(255) - _IMAGENET_MEAN) / _IMAGENET_STD


def unit_scaling(pixels: np.ndarray) -> np.ndarray:
    """Pixels from 0 to 1, as ``ImageDataGenerator(rescale=1./255)`` trains on them."""
    return pixels / np.float32(255)


def raw_scaling(pixels: np.ndarray) -> np.ndarray:
    """Pixels as decoded, 0 to 255: for a model that scales its own input (a Rescaling layer inside)."""
    return pixels


# How a model's input is scaled, by the name its settings file gives: keras-image-helper's
# (xception, resnet50, vgg16, inception_v3), PyTorch's, x / 255 (unit) and none at all (raw).
SCALINGS = {"xception": tf_scaling, "resnet50": caffe_scaling, "vgg16": caffe_scaling, "inception_v3": tf_scaling,
            "torch": torch_scaling, "unit": unit_scaling, "raw": raw_scaling}


def _bilinear_sampled(img: Image.Image, size: int) -> Image.Image:
    """Bilinear sampling at each output pixel's centre, without antialiasing: tf.image.resize, OpenCV's
    INTER_LINEAR, torch's interpolate. Pillow's affine transform samples its 2x2 neighbours, where its resize
    widens the filter when shrinking."""
    scale_x, scale_y = img.width / size, img.height / size
    return img.transform((size, size), Image.Transform.AFFINE, (scale_x, 0, 0, 0, scale_y, 0),
                         Image.Resampling.BILINEAR)


# How a model's input was resized in training, by the name its settings file gives:
# nearest: PIL's NEAREST, as keras.utils.load_img and ImageDataGenerator do by default, and the course's homework;
# bilinear: without antialiasing, as keras.utils.image_dataset_from_directory (tf.image.resize) and OpenCV do;
# antialiased: PIL's BILINEAR, which widens its filter when shrinking, as torchvision's Resize does on pictures.
RESIZES = {
    "nearest": lambda img, size: img.resize((size, size), Image.Resampling.NEAREST),
    "bilinear": _bilinear_sampled,
    "antialiased": lambda img, size: img.resize((size, size), Image.Resampling.BILINEAR),
}


# The resizes whose answers a picture decoded at reduced scale keeps (decode_image's reduce): an antialiased
# resize averages every pixel, as JPEG's DCT scaling and Image.reduce do. Nearest picks single pixels and plain
# bilinear samples four, so those get the picture at full size, as their training pipelines had it
# (conversion/tests/test_convert_onnx.py compares with the course's homework code on the original files).
REDUCIBLE_RESIZES = ("antialiased",)


def resize(img: Image.Image, size: int, method: str = "antialiased") -> Image.Image:
    """Resize to the model's square input, as the model's settings file says it was in training."""
    return RESIZES[method](img, size)


class InputPreparer:
    """Turns a decoded picture into the model's input batch, as keras-image-helper's ``convert_to_tensor`` does
    (float32 pixels, a batch of one, scaled); built once, reused.

    ``scaling`` names one of ``SCALINGS``; the resize is one of ``RESIZES``: antialiased unless the model
    was trained on pictures resized another way.
    """

    def __init__(self, size: int, scaling: str = "xception", resize_method: str = "antialiased"):
        if scaling not in SCALINGS:
            raise ValueError(f"unknown input scaling {scaling!r}; known: {', '.join(SCALINGS)}")
        if resize_method not in RESIZES:
            raise ValueError(f"unknown resize {resize_method!r}; known: {', '.join(RESIZES)}")
        self.size = size
        self._scaling = SCALINGS[scaling]
        self._resize_method = resize_method
        self.reduces = resize_method in REDUCIBLE_RESIZES  # whether pictures may be decoded at reduced scale

    def __call__(self, img: Image.Image) -> np.ndarray:
        pixels = np.array(resize(img, self.size, self._resize_method), dtype=np.float32)[np.newaxis]
        return np.ascontiguousarray(self._scaling(pixels))

    def from_bytes(self, data: bytes) -> np.ndarray:
        """A picture file as the model's input batch: decoded as this resize allows (at reduced scale only where
        it may be), then prepared. The one chain from bytes to input that every caller shares."""
        return self(decode_image(data, self.size, reduce=self.reduces))

    def scale(self, pixels: np.ndarray) -> np.ndarray:
        """The scaling alone, of float32 pixels (any shape), in place where it can."""
        return self._scaling(pixels)
