"""PyTorch networks (``.pt2``, from ``torch.export.save``) as a conversion source, in the training environment.

They become TF-Lite through litert-torch (``conversion/litert.py``), the path
this project's own model takes, and are checked against PyTorch. torch is in
the training environment only, so ``make convert`` runs a ``.pt2`` there; an
ONNX export of the same network converts without torch (``onnx_source``).
"""

import functools
import warnings
import zipfile
from pathlib import Path

import numpy as np
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
                  functools.partial(_to_tflite, network, channels_first), _ends_in_sigmoid(program))


_SHAPE_ONLY = {"view", "reshape", "flatten", "squeeze", "unsqueeze", "_unsafe_view", "clone", "alias"}


def _ends_in_sigmoid(program) -> bool:
    """Whether the exported graph's output comes from a sigmoid, looking through reshapes."""
    [output] = [node for node in program.graph.nodes if node.op == "output"]
    node = output.args[0][0] if isinstance(output.args[0], (tuple, list)) else output.args[0]
    while isinstance(node, torch.fx.Node) and node.op == "call_function":
        name = getattr(node.target, "__name__", str(node.target)).split(".")[0]
        if name == "sigmoid":
            return True
        if name not in _SHAPE_ONLY:
            return False
        node = node.args[0]
    return False


def _channels_first(shape: tuple) -> bool:
    """PyTorch's (batch, 3, height, width) rather than (batch, height, width, 3)."""
    return len(shape) == 4 and shape[1] == 3 and shape[3] != 3


def _nhwc(shape: tuple, channels_first: bool) -> tuple:
    return (shape[0], shape[2], shape[3], shape[1]) if channels_first else shape


def _layout(batch: np.ndarray, channels_first: bool) -> np.ndarray:
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2)) if channels_first else batch


def _to_tflite(network, channels_first: bool, size: int, add_softmax: bool, float16: bool) -> bytes:
    served = litert.ServedNetwork(network, channels_first, add_softmax)
    try:
        with warnings.catch_warnings(action="ignore"):  # the exporters' notes on their own internals
            return litert.to_tflite(served, size, float16)
    except Exception as error:  # litert-torch raises many kinds; its first line names what failed
        raise ConversionError(f"litert-torch cannot convert the network: {first_line(error)}") from None
