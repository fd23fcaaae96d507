"""ONNX models (``.onnx``, with their weights inside or in ``.onnx.data`` files beside them) as a conversion source.

onnx2tf writes TF-Lite straight from the ONNX graph (its flatbuffer_direct
backend: no PyTorch, no TensorFlow graph in between) and turns a channels-first
graph, as PyTorch exports one, to take channels-last pictures; ai-edge-quantizer
then casts the weights to float16. The check compares with ONNX Runtime, the
runtime every ONNX exporter targets. ``torch.onnx.export`` (with and without
``dynamo``) and tf2onnx write opsets 13 to 21, which this onnx reads.

    python -m conversion.onnx_source model.onnx model.tflite --size 240 --channels-first --softmax --float16

converts without checking: the step ``conversion.torch_to_tflite`` runs here for a
network exported where torch is, which it checks there against PyTorch.
"""

import argparse
import contextlib
import io
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnx import helper, numpy_helper

from conversion.float16 import to_float16
from conversion.source import (
    ConversionError,
    OwnScaling,
    Source,
    channels_first,
    first_line,
    laid_out,
    nhwc,
    shape_text,
    short,
)

# Operators that change a tensor's shape, not its values: looked through to find what ends the graph.
_SHAPE_ONLY = {"Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Cast"}


def read_structure(path: Path) -> onnx.ModelProto:
    """The graph without its weights; ConversionError for what this onnx cannot read, in one line."""
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as error:  # protobuf's DecodeError, and others, for what is not an ONNX file
        raise ConversionError(f"{path}: not an ONNX model ({first_line(error)})") from None
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    newest = onnx.defs.onnx_opset_version()
    if opset > newest or model.ir_version > onnx.IR_VERSION:
        raise ConversionError(f"{path}: the model uses ONNX opset {opset} (IR version {model.ir_version}), newer "
                              f"than this converter's onnx {onnx.__version__} reads (opset {newest}, IR version "
                              f"{onnx.IR_VERSION}); export it with opset {newest} or older")
    return model


def all_tensors(graph: onnx.GraphProto):
    """Every tensor a graph holds: its initializers (sparse ones' values and indices too), and the tensors of its
    nodes' attributes (a Constant's value), in its subgraphs as well, as onnx.load reads external data for."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("sparse_tensor"):
                yield from (attribute.sparse_tensor.values, attribute.sparse_tensor.indices)
            for subgraph in [*([attribute.g] if attribute.HasField("g") else []), *attribute.graphs]:
                yield from all_tensors(subgraph)


def external_data(model: onnx.ModelProto, path: Path) -> dict[str, int]:
    """The files beside ``path`` that hold the model's weights, with their sizes; ConversionError if one is
    missing, cut short, outside the model's folder, or a link out of it."""
    needed: dict[str, int] = {}
    for tensor in all_tensors(model.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        location = Path(info.get("location", ""))
        if not info.get("location") or location.is_absolute() or ".." in location.parts:
            raise ConversionError(f"{path}: weight {tensor.name!r} names {str(location)!r} as its file, which is not "
                                  "a file beside the model")
        size = int(np.prod(tensor.dims, dtype=np.int64)) * helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
        end = int(info.get("offset", 0)) + int(info.get("length", size))
        needed[str(location)] = max(needed.get(str(location), 0), end)
    folder = path.parent.resolve()
    for name, end in needed.items():
        file = path.parent / name
        if not file.resolve().is_relative_to(folder):
            raise ConversionError(f"{path}: its weights file {name} is a link out of the model's folder; copy the "
                                  "file itself beside the model")
        if not file.is_file():
            raise ConversionError(f"{path}: its weights are in {name} beside it, which is missing: copy {name} into "
                                  f"{path.parent} with the .onnx file")
        if file.stat().st_size < end:
            raise ConversionError(f"{path}: {name} is cut short: {file.stat().st_size} bytes, where the model's "
                                  f"weights need {end}")
    return {name: (path.parent / name).stat().st_size for name in needed}


def final_operator(model: onnx.ModelProto) -> str | None:
    """The operator that makes the output, looking through reshapes: ``Sigmoid``, ``Softmax``, ``Gemm``..."""
    producers = {output: node for node in model.graph.node for output in node.output}
    node = producers.get(model.graph.output[0].name)
    while node is not None and node.op_type in _SHAPE_ONLY:
        node = producers.get(node.input[0])
    return node.op_type if node is not None else None


# Arithmetic with a constant that a graph may do first on its input (tf2onnx writes a Keras Rescaling as Mul, Add),
# and what looks through it to the next such step.
_ARITHMETIC = {"Mul": np.multiply, "Div": np.divide, "Add": np.add, "Sub": np.subtract}


def own_scaling(model: onnx.ModelProto, input_name: str, is_channels_first: bool) -> OwnScaling | None:
    """The constant Mul, Div, Add and Sub the graph's input goes through first, or None."""
    constants = {tensor.name: tensor for tensor in model.graph.initializer
                 if tensor.data_location != onnx.TensorProto.EXTERNAL}
    constants |= {node.output[0]: node.attribute[0].t for node in model.graph.node
                  if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value"}
    steps, value = [], input_name
    while True:
        users = [node for node in model.graph.node if value in node.input]
        if len(users) != 1 or users[0].op_type not in _ARITHMETIC:
            break
        node = users[0]
        other = next((name for name in node.input if name != value), None)
        if other not in constants:
            break
        steps.append((node.op_type, numpy_helper.to_array(constants[other]).astype(np.float32),
                      node.input[0] == value))
        value = node.output[0]
    if not steps:
        return None

    def apply(batch: np.ndarray) -> np.ndarray:
        values = laid_out(batch, is_channels_first)
        for op, constant, input_first in steps:
            values = _ARITHMETIC[op](values, constant) if input_first else _ARITHMETIC[op](constant, values)
        return values

    named = ", ".join(f"{op} {short(constant)}" for op, constant, _ in steps)
    return OwnScaling(f"{named} on the input", apply)


def open_model(path: Path) -> Source:
    structure = read_structure(path)
    external_data(structure, path)
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:
        raise ConversionError(f"{path}: not a model ONNX Runtime can run ({first_line(error)})") from None
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ConversionError(f"{path}: the model has {len(inputs)} inputs and {len(outputs)} outputs; "
                              "one image input and one output are needed")
    shape = tuple(side if isinstance(side, int) else None for side in inputs[0].shape)
    is_channels_first = channels_first(shape)

    def scores(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {inputs[0].name: laid_out(batch, is_channels_first)})[0]

    def to_tflite(size: int, add_softmax: bool, float16: bool) -> bytes:
        return onnx_to_tflite(path, inputs[0].name, is_channels_first, size, add_softmax, float16)

    return Source("ONNX Runtime", nhwc(shape, is_channels_first), is_channels_first, scores, to_tflite,
                  ends_in_sigmoid=final_operator(structure) == "Sigmoid",
                  own_scaling=own_scaling(structure, inputs[0].name, is_channels_first))


def with_softmax(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with a softmax over its last axis after its output: probabilities from logits."""
    output = model.graph.output[0]
    model.graph.node.append(helper.make_node("Softmax", [output.name], ["probabilities"], axis=-1))
    probabilities = onnx.ValueInfoProto()
    probabilities.CopyFrom(output)
    probabilities.name = "probabilities"
    model.graph.output.remove(output)
    model.graph.output.append(probabilities)
    return model


def onnx_to_tflite(path: Path, input_name: str, is_channels_first: bool, size: int, add_softmax: bool,
            float16: bool) -> bytes:
    import onnx2tf  # noqa: PLC0415 - a second or two of imports, for ONNX models only

    shape = f"1,3,{size},{size}" if is_channels_first else f"1,{size},{size},3"
    with tempfile.TemporaryDirectory(prefix="onnx2tf-") as scratch:
        # onnx2tf rewrites the file it is given: it gets a copy, weights and all, never the user's own files
        model = onnx.load(path)
        [image] = [value for value in model.graph.input if value.name == input_name]
        dims = image.type.tensor_type.shape.dim  # open sides fixed here: onnx2tf would keep them open
        for dim, side in zip(dims, [int(side) for side in shape.split(",")], strict=True):
            dim.Clear()
            dim.dim_value = side
        source = Path(scratch) / "model.onnx"
        onnx.save(with_softmax(model) if add_softmax else model, source,
                  save_as_external_data=model.ByteSize() > 2**30)
        try:
            # onnx2tf draws progress bars and prints notes on both streams: none of it is the command's report
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                onnx2tf.convert(input_onnx_file_path=str(source), output_folder_path=scratch, non_verbose=True,
                                overwrite_input_shape=[f"{input_name}:{shape}"], not_use_onnxsim=True,
                                keep_nwc_or_nhwc_or_ndhwc_input_names=None if is_channels_first else [input_name])
        except (Exception, SystemExit) as error:  # onnx2tf raises many kinds, and exits on what it cannot convert
            raise ConversionError(f"onnx2tf cannot convert the model: {first_line(error)}") from None
        float32_file = next(Path(scratch).glob("*_float32.tflite"), None)
        if float32_file is None:
            raise ConversionError("onnx2tf wrote no TF-Lite model")
        return to_float16(float32_file) if float16 else float32_file.read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--size", type=int, required=True, help="the pictures' side, in pixels")
    parser.add_argument("--channels-first", action="store_true", help="the model takes NCHW pictures")
    parser.add_argument("--softmax", action="store_true", help="append a softmax: the model answers logits")
    parser.add_argument("--float16", action="store_true", help="float16 weights")
    args = parser.parse_args()
    try:
        [image] = read_structure(args.source).graph.input
        args.target.write_bytes(onnx_to_tflite(args.source, image.name, args.channels_first, args.size, args.softmax,
                                        args.float16))
    except ValueError:
        sys.exit(f"{args.source}: one image input is needed")
    except ConversionError as error:
        sys.exit(str(error))


if __name__ == "__main__":
    main()


def describe(path: Path) -> dict[str, str]:
    """make inspect's fields for an ONNX model, read without running it."""
    from conversion.inspect_model import kind_text, picture_text, scaling_text, size_text, weights_text  # noqa: PLC0415

    model = read_structure(path)
    files = [path, *(path.parent / name for name in external_data(model, path))]
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    writer = f", written by {model.producer_name} {model.producer_version}".rstrip() if model.producer_name else ""

    def value(info) -> tuple[str, str, list]:
        tensor = info.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        return info.name, onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name, dims

    weights = {i.name for i in model.graph.initializer}
    [(in_name, in_type, in_shape)] = [value(i) for i in model.graph.input if i.name not in weights][:1] or \
        [("?", "?", [])]
    out_name, out_type, out_shape = value(model.graph.output[0])
    return {"format": f"ONNX, opset {opset}, IR version {model.ir_version}{writer}", "size": size_text(files),
            "input": f"{in_name}, {in_type}, {shape_text(in_shape)}: {picture_text(in_shape)}",
            "output": f"{out_name}, {out_type}, {shape_text(out_shape)}: "
                      f"{kind_text(out_shape[-1] if out_shape else None, final_operator(model))}",
            "scaling": scaling_text(own_scaling(model, in_name, channels_first(in_shape)),
                                    nhwc(tuple(in_shape), channels_first(in_shape)) if in_shape else ()),
            "weights": weights_text([helper.tensor_dtype_to_np_dtype(t.data_type).name
                                     for t in model.graph.initializer if len(t.dims)],
                                    {node.op_type for node in model.graph.node if "Quant" in node.op_type
                                     or node.op_type.startswith(("QLinear", "ConvInteger", "MatMulInteger"))})}
