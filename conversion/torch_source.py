"""PyTorch networks (``.pt2``, from ``torch.export.save``) and ONNX models (``.onnx``) as conversion sources.

Both become TF-Lite through PyTorch and litert-torch (``conversion/litert.py``),
the path this project's own model takes: a ``.pt2`` directly, an ``.onnx``
after ``onnxslim`` simplifies it (folding constants, removing ``Identity``
nodes, which ``onnx2torch`` lacks from opset 19) and ``onnx2torch`` rebuilds
it as a PyTorch network. The check compares with the framework the user ran:
PyTorch for ``.pt2``, ONNX Runtime for ``.onnx``.
"""

import functools
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnx2torch
import onnxruntime
import onnxslim
import torch

from conversion import litert
from conversion.source import ConversionError, Source, first_line

SAVE_HINT = ("save the network with its code: torch.export.save(torch.export.export(model.eval(), "
             "(torch.zeros(1, 3, 224, 224),)), 'model.pt2')")


def open_state_dict(path: Path) -> Source:
    """A ``.pt``/``.pth`` file holds weights (or a pickled object), never a network that can be run safely."""
    raise ConversionError(f"{path}: a .pt or .pth file holds weights without the network's code; {SAVE_HINT}")


def open_pt2(path: Path) -> Source:
    if not zipfile.is_zipfile(path):  # before torch, which logs a traceback for what is not its archive
        raise ConversionError(f"{path}: not a network torch.export.save wrote (not a .pt2 archive)")
    try:
        program = torch.export.load(path)
    except Exception as error:  # an archive of another kind
        raise ConversionError(f"{path}: not a network torch.export.save wrote ({first_line(error)})") from None
    args, kwargs = program.example_inputs or ((), {})
    if len(args) != 1 or kwargs:
        raise ConversionError(f"{path}: the network takes {len(args) + len(kwargs)} inputs; one image is needed")
    shape = tuple(args[0].shape)
    network = program.module()
    channels_first = _channels_first(shape)

    def scores(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return network(torch.from_numpy(_layout(batch, channels_first))).numpy()

    return Source("PyTorch", _nhwc(shape, channels_first), channels_first, scores,
                  functools.partial(_to_tflite, network, channels_first))


def open_onnx(path: Path) -> Source:
    try:
        model = onnx.load(path)
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:
        raise ConversionError(f"{path}: not a model ONNX Runtime can read ({first_line(error)})") from None
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ConversionError(f"{path}: the model has {len(inputs)} inputs and {len(outputs)} outputs; "
                              "one image input and one output are needed")
    shape = tuple(side if isinstance(side, int) else None for side in inputs[0].shape)
    channels_first = _channels_first(shape)

    def scores(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {inputs[0].name: _layout(batch, channels_first)})[0]

    return Source("ONNX Runtime", _nhwc(shape, channels_first), channels_first, scores,
                  functools.partial(_onnx_to_tflite, model, channels_first))


def _channels_first(shape: tuple) -> bool:
    """PyTorch's (batch, 3, height, width) rather than (batch, height, width, 3)."""
    return len(shape) == 4 and shape[1] == 3 and shape[3] != 3


def _nhwc(shape: tuple, channels_first: bool) -> tuple:
    return (shape[0], shape[2], shape[3], shape[1]) if channels_first else shape


def _layout(batch: np.ndarray, channels_first: bool) -> np.ndarray:
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2)) if channels_first else batch


def _onnx_to_tflite(model, channels_first: bool, size: int, add_softmax: bool, float16: bool) -> bytes:
    try:
        network = onnx2torch.convert(onnxslim.slim(model)).eval()
    except NotImplementedError as error:
        operators = sorted(set(re.findall(r"operation_type='(\w+)'", str(error)))) or [first_line(error)]
        raise ConversionError(f"the ONNX model uses operators the converter lacks: {', '.join(operators)}") from None
    return _to_tflite(network, channels_first, size, add_softmax, float16)


def _to_tflite(network, channels_first: bool, size: int, add_softmax: bool, float16: bool) -> bytes:
    served = litert.ServedNetwork(network, channels_first, add_softmax)
    try:
        with warnings.catch_warnings(action="ignore"):  # the exporters' notes on their own internals
            return litert.to_tflite(served, size, float16)
    except Exception as error:  # litert-torch raises many kinds; its first line names what failed
        raise ConversionError(f"litert-torch cannot convert the network: {first_line(error)}") from None
