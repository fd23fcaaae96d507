"""What every model format gives the converter: its input's shape, its own answers, and itself as TF-Lite."""

from collections.abc import Callable
from typing import NamedTuple

import numpy as np


class ConversionError(Exception):
    """The model cannot be served: said in one line, and nothing is written."""


class OwnScaling(NamedTuple):
    """The arithmetic a model's graph does first on its input (Keras's Rescaling and Normalization layers,
    an ONNX graph's constant Mul, Div, Add and Sub), as found there."""

    name: str  # as make inspect and make convert print it: "Rescaling(scale=0.003922, offset=0)"
    apply: Callable[[np.ndarray], np.ndarray]  # those operations alone, on NHWC pictures as the function prepares them


class Source(NamedTuple):
    """A model opened by the framework it comes from."""

    framework: str  # whose answers the converted model is checked against: "Keras", "PyTorch", "ONNX Runtime"
    input_shape: tuple  # as the model declares it, None for an open side
    channels_first: bool  # (batch, 3, height, width), as PyTorch takes pictures
    scores: Callable[[np.ndarray], np.ndarray]  # the framework's answers for NHWC pictures
    to_tflite: Callable[[int, bool, bool], bytes]  # (size, add_softmax, float16) -> a model taking NHWC pictures
    ends_in_sigmoid: bool = False  # its graph's last operation, looking through reshapes, is a sigmoid
    own_scaling: OwnScaling | None = None  # how it scales its own input, if its graph says


def channels_first(shape) -> bool:
    """PyTorch's (batch, 3, height, width) rather than (batch, height, width, 3)."""
    return len(shape) == 4 and shape[1] == 3 and shape[3] != 3


def nhwc(shape: tuple, is_channels_first: bool) -> tuple:
    """The input's shape as the function's pictures are laid out: (batch, height, width, 3)."""
    return (shape[0], shape[2], shape[3], shape[1]) if is_channels_first else shape


def laid_out(batch: np.ndarray, is_channels_first: bool) -> np.ndarray:
    """The function's NHWC pictures in the layout the model takes."""
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2)) if is_channels_first else batch


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def short(values) -> str:
    """A constant as a line shows it: one number, or the first three of many."""
    flat = np.ravel(np.asarray(values, dtype=np.float64))
    shown = ", ".join(f"{value:.4g}" for value in flat[:3])
    return shown if flat.size == 1 else f"[{shown}{', ...' if flat.size > 3 else ''}]"


def shape_text(shape) -> str:
    """A shape as messages print it: "(batch, 224, 224, 3)", an open side "any"."""
    sides = ["batch" if i == 0 and not isinstance(side, int) else (str(side) if isinstance(side, int) else "any")
             for i, side in enumerate(shape)]
    return "(" + ", ".join(sides) + ")"
