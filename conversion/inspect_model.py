"""What a model takes and gives, read without converting it: what to know before serving it.

    python -m conversion.inspect_model MODEL        (make inspect MODEL=...)

One line a field: the format and the version that wrote it, the size (with
its external data), the input and the output with their names, dtypes and
shapes, channels first or last, the picture size, and whether the output is
logits, probabilities or a sigmoid, as the graph's last operation says. Reads
every format ``make convert`` reads: ``.h5``, ``.keras``, a SavedModel folder,
``.onnx`` (in the conversion environment) and ``.pt2`` (in the training one).
"""

import sys
from pathlib import Path

from conversion.source import ConversionError, channels_first, first_line


def _shape(shape) -> str:
    sides = ["batch" if i == 0 and not isinstance(side, int) else (str(side) if isinstance(side, int) else "any")
             for i, side in enumerate(shape)]
    return "(" + ", ".join(sides) + ")"


def _picture(shape) -> str:
    if channels_first(shape):
        layout, sides = "channels first", shape[2:]
    elif len(shape) == 4 and shape[3] == 3:
        layout, sides = "channels last", shape[1:3]
    else:
        return "not a picture: convert needs (batch, height, width, 3) or (batch, 3, height, width)"
    size = "pictures of any size" if not all(isinstance(s, int) for s in sides) else f"{sides[0]}x{sides[1]} pictures"
    return f"{layout}, {size}"


def _kind(outputs: int | None, final: str | None) -> str:
    """What the output is, by its width and the operation that makes it."""
    ends = f" (the graph ends in {final})" if final else ""
    if outputs == 1:
        return f"one sigmoid{ends}" if final and final.lower() == "sigmoid" else f"one logit{ends}"
    count = outputs if outputs is not None else "some"
    return f"{count} probabilities{ends}" if final and final.lower() == "softmax" else f"{count} logits{ends}"


def _scaling(own, shape) -> str:
    """What the graph does to its input first, and the --scaling make convert takes for it."""
    if own is None:
        return "the graph does not scale its own input: make convert takes --scaling xception unless told another"
    side = shape[1] if len(shape) == 4 and shape[3] == 3 else None  # (batch, height, width, 3)
    if not isinstance(side, int):
        return f"the graph scales its own input first ({own.name}): make convert checks which --scaling fits"
    import numpy as np  # noqa: PLC0415

    from conversion.convert import check_pictures, scaled_pictures  # noqa: PLC0415
    from conversion.scaling import choose_scaling  # noqa: PLC0415

    scaled = scaled_pictures(check_pictures(None), side, "antialiased")
    chosen, _ = choose_scaling(own, None, lambda name: np.concatenate(scaled(name)))
    return f"the graph scales its own input first ({own.name}): make convert takes --scaling {chosen}"


def _bytes(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count / 1e3:.0f} KB"


def _size(files: list[Path]) -> str:
    parts = ", ".join(f"{f.name} {_bytes(f.stat().st_size)}" for f in files)
    return _bytes(sum(f.stat().st_size for f in files)) + (f" ({parts})" if len(files) > 1 else "")


def describe_onnx(path: Path) -> dict[str, str]:
    import onnx  # noqa: PLC0415 - each framework only for its own files

    from conversion.onnx_source import external_data, final_operator, own_scaling, read_structure  # noqa: PLC0415
    from conversion.source import nhwc  # noqa: PLC0415

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
    return {"format": f"ONNX, opset {opset}, IR version {model.ir_version}{writer}", "size": _size(files),
            "input": f"{in_name}, {in_type}, {_shape(in_shape)}: {_picture(in_shape)}",
            "output": f"{out_name}, {out_type}, {_shape(out_shape)}: "
                      f"{_kind(out_shape[-1] if out_shape else None, final_operator(model))}",
            "scaling": _scaling(own_scaling(model, in_name, channels_first(in_shape)),
                                nhwc(tuple(in_shape), channels_first(in_shape)) if in_shape else ())}


def describe_keras(path: Path) -> dict[str, str]:
    from conversion.keras_source import final_operation, keras, load, own_scaling, saved_by  # noqa: PLC0415

    model = load(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    kind = "SavedModel folder" if path.is_dir() else path.suffix
    version = saved_by(path) if not path.is_dir() else None
    inputs, output = model.inputs[0], model.outputs[0]
    final = final_operation(model)
    shape_in, shape_out = list(inputs.shape), list(output.shape)
    return {"format": f"Keras {kind}" + (f", saved by Keras {version}" if version else "")
                      + f" (read by Keras {keras.__version__})",
            "size": _size(files),
            "input": f"{inputs.name}, {inputs.dtype}, {_shape(shape_in)}: {_picture(shape_in)}",
            "output": f"{output.name}, {output.dtype}, {_shape(shape_out)}: {_kind(shape_out[-1], final)}",
            "scaling": _scaling(own_scaling(model), shape_in)}


def describe_pt2(path: Path) -> dict[str, str]:
    import torch  # noqa: PLC0415

    from conversion.torch_source import final_operation, load_program  # noqa: PLC0415

    program = load_program(path)  # the same refusals as make convert
    args, _ = program.example_inputs
    result, final = final_operation(program)
    value = result.meta.get("val")
    in_name = program.graph_signature.user_inputs[0]
    out_shape = list(value.shape) if value is not None else []
    return {"format": f"PyTorch exported program (.pt2), read by torch {torch.__version__}", "size": _size([path]),
            "input": f"{in_name}, {str(args[0].dtype).removeprefix('torch.')}, {_shape(list(args[0].shape))}: "
                     f"{_picture(list(args[0].shape))}",
            "output": f"{result.name}, {str(value.dtype).removeprefix('torch.') if value is not None else '?'}, "
                      f"{_shape(out_shape)}: {_kind(out_shape[-1] if out_shape else None, final)}"}


def describe(path: Path) -> dict[str, str]:
    if not path.exists():
        raise ConversionError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        fields = describe_onnx(path)
    elif path.is_dir() or suffix in (".h5", ".keras"):
        fields = describe_keras(path)
    elif suffix == ".pt2":
        fields = describe_pt2(path)
    else:
        raise ConversionError(f"{path}: not a model this reads; give a .h5 or .keras file, a SavedModel folder, "
                              "an .onnx file or a .pt2 file")
    return {"model": path.name, **fields}


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 1 or arguments[0].startswith("-"):
        print("usage: python -m conversion.inspect_model MODEL", file=sys.stderr)
        return 2
    try:
        fields = describe(Path(arguments[0]))
    except ConversionError as error:
        print(f"inspect: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # a framework's own failure on a file it cannot read: still one line
        print(f"inspect: {arguments[0]}: {type(error).__name__}: {first_line(error)}", file=sys.stderr)
        return 1
    for field, text in fields.items():
        print(f"{field}: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
