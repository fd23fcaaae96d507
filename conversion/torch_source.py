"""PyTorch networks (``.pt2``, from ``torch.export.save``) as a conversion source, in the training environment.

They become TF-Lite through ONNX (``conversion/torch_to_tflite.py``), the path this
project's own model takes, and are checked against PyTorch. torch is in the
training environment only, so ``make convert`` runs a ``.pt2`` there; an ONNX
export of the same network converts without torch (``onnx_source``).
"""

import functools
import io
import json
import re
import zipfile
from pathlib import Path
from typing import NoReturn

import numpy as np
import torch

from conversion import torch_to_tflite
from conversion.source import ConversionError, Source, channels_first, first_line, laid_out, nhwc, shape_text

SAVE_HINT = ("save the network with its code: torch.export.save(torch.export.export(model.eval(), "
             "(torch.zeros(1, 3, 224, 224),)), 'model.pt2')")


def refuse_state_dict(path: Path) -> NoReturn:
    """A ``.pt``/``.pth`` file holds weights (or a pickled object), never a network that can be run safely."""
    raise ConversionError(f"{path}: a .pt or .pth file holds weights without the network's code; {SAVE_HINT}")


def open_model(path: Path) -> Source:
    return open_pt2(path) if path.suffix.lower() == ".pt2" else refuse_state_dict(path)


# What torch.export.save writes, under the archive's one top folder: the program as JSON, its tensors as raw
# bytes with JSON configs, and its example inputs (torch.save's format, read with weights_only). torch.export.load
# would unpickle a weight or constant the config marks use_pickle, a custom or opaque object, and example inputs
# that the safe load refuses (torch/export/pt2_archive/_package.py, torch/_export/serde/serialize.py).
_ARCHIVE_MEMBERS = re.compile(r"""(archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id
    |models/[\w.-]+\.json|extra/[\w.-]+\.json
    |data/weights/[\w.-]+_weights_config\.json|data/weights/weight_\d+
    |data/constants/[\w.-]+_constants_config\.json|data/constants/tensor_\d+
    |data/sample_inputs/[\w.-]+\.pt)""", re.VERBOSE)
# Where an exported graph's operations may come from: PyTorch's own tensor operations, and Python's operator
# module for indexing an output. Others (a library's or the file's author's registered operations) are code.
_OPERATION_NAMESPACES = ("aten", "prims")
_FILE_OPERATIONS = ("from_file", "save", "load")


def check_archive(path: Path) -> None:
    """Reads the archive as data before torch loads any of it: ConversionError, naming what was found, for a
    member torch would unpickle or does not write."""
    with zipfile.ZipFile(path) as archive:
        names = [name for name in archive.namelist() if not name.endswith("/")]
        roots = {name.split("/", 1)[0] for name in names}
        if len(roots) != 1:
            raise ConversionError(f"{path}: not a network torch.export.save wrote (not one top folder)")
        for name in names:
            inside = name.split("/", 1)[1] if "/" in name else ""
            if not _ARCHIVE_MEMBERS.fullmatch(inside):
                raise ConversionError(f"{path}: holds {name}, which torch.export.save does not write as data; "
                                      f"refused unread")
        for name in names:
            if name.endswith(("_weights_config.json", "_constants_config.json")):
                _check_payload_config(path, name, archive.read(name))
        for name in names:
            if "/data/sample_inputs/" in name:
                try:
                    torch.load(io.BytesIO(archive.read(name)), weights_only=True)
                except Exception:  # torch would fall back to an unpickling that runs code
                    raise ConversionError(f"{path}: its example inputs ({name}) are a pickle that only an unsafe "
                                          "load reads; refused unread") from None


def _check_payload_config(path: Path, name: str, text: bytes) -> None:
    try:
        entries = json.loads(text)["config"]
    except (ValueError, KeyError, TypeError):
        raise ConversionError(f"{path}: {name} is not the JSON torch.export.save writes") from None
    for key, entry in entries.items():
        kept = entry.get("path_name", "") if isinstance(entry, dict) else ""
        if not isinstance(entry, dict) or entry.get("use_pickle") is not False or \
                not kept.startswith(("weight_", "tensor_")):
            raise ConversionError(f"{path}: {key!r} in {name} is stored as a pickled object, which loading would "
                                  "run; refused unread")


def check_graph(path: Path, program) -> None:
    """Every operation the exported graph calls is PyTorch's own, and none reads or writes a file."""
    for node in program.graph.nodes:
        if node.op != "call_function":
            continue
        namespace = getattr(node.target, "namespace", None)
        name = getattr(node.target, "__name__", str(node.target))
        if node.target.__module__ == "_operator" and name == "getitem":
            continue
        if namespace not in _OPERATION_NAMESPACES or any(word in name for word in _FILE_OPERATIONS):
            raise ConversionError(f"{path}: the network calls {namespace or node.target.__module__}.{name}, "
                                  "which is not one of PyTorch's tensor operations; refused before it runs")


def load_program(path: Path):
    """The exported program in ``path``; ConversionError for what torch.export.save did not write, and for
    what would run code when loaded (``check_archive``) or when run (``check_graph``)."""
    if not zipfile.is_zipfile(path):  # before torch, which logs a traceback for what is not its archive
        raise ConversionError(f"{path}: not a network torch.export.save wrote (not a .pt2 archive)")
    check_archive(path)
    try:
        program = torch.export.load(path)
    except Exception as error:  # an archive of another kind
        raise ConversionError(f"{path}: not a network torch.export.save wrote ({first_line(error)})") from None
    check_graph(path, program)
    args, kwargs = program.example_inputs or ((), {})
    if len(args) != 1 or kwargs:
        raise ConversionError(f"{path}: the network takes {len(args) + len(kwargs)} inputs; one image is needed")
    return program


def open_pt2(path: Path) -> Source:
    program = load_program(path)
    shape = tuple(program.example_inputs[0][0].shape)
    network = program.module()
    is_channels_first = channels_first(shape)

    def scores(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return network(torch.from_numpy(laid_out(batch, is_channels_first))).numpy()

    return Source("PyTorch", nhwc(shape, is_channels_first), is_channels_first, scores,
                  functools.partial(torch_to_tflite.to_tflite, program, channels_first=is_channels_first),
                  final_operation(program)[1] == "sigmoid")


_SHAPE_ONLY = {"view", "reshape", "flatten", "squeeze", "unsqueeze", "_unsafe_view", "clone", "alias"}


def final_operation(program) -> tuple[torch.fx.Node, str]:
    """The graph's output node, and the operation that makes it, looking through reshapes (``sigmoid``...)."""
    [output] = [node for node in program.graph.nodes if node.op == "output"]
    result = output.args[0][0] if isinstance(output.args[0], (tuple, list)) else output.args[0]
    node = result
    while isinstance(node, torch.fx.Node) and node.op == "call_function":
        name = getattr(node.target, "__name__", str(node.target)).split(".")[0]
        if name not in _SHAPE_ONLY:
            return result, name
        node = node.args[0]
    return result, ""


def describe(path: Path) -> dict[str, str]:
    """make inspect's fields for an exported program."""
    from conversion.inspect_model import kind_text, picture_text, size_text, weights_text  # noqa: PLC0415

    if path.suffix.lower() != ".pt2":
        refuse_state_dict(path)
    program = load_program(path)  # the same refusals as make convert
    args, _ = program.example_inputs
    result, final = final_operation(program)
    value = result.meta.get("val")
    in_name = program.graph_signature.user_inputs[0]
    out_shape = list(value.shape) if value is not None else []
    return {"format": f"PyTorch exported program (.pt2), read by torch {torch.__version__}",
            "size": size_text([path]),
            "input": f"{in_name}, {str(args[0].dtype).removeprefix('torch.')}, {shape_text(list(args[0].shape))}: "
                     f"{picture_text(list(args[0].shape))}",
            "output": f"{result.name}, {str(value.dtype).removeprefix('torch.') if value is not None else '?'}, "
                      f"{shape_text(out_shape)}: {kind_text(out_shape[-1] if out_shape else None, final)}",
            "weights": weights_text([str(t.dtype).removeprefix("torch.") for t in program.state_dict.values()],
                                    {name for node in program.graph.nodes if node.op == "call_function"
                                     and "quantize" in (name := getattr(node.target, "__name__", ""))})}
