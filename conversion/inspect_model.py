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

from conversion.formats import framework
from conversion.source import ConversionError, channels_first, first_line


def picture_text(shape) -> str:
    if channels_first(shape):
        layout, sides = "channels first", shape[2:]
    elif len(shape) == 4 and shape[3] == 3:
        layout, sides = "channels last", shape[1:3]
    else:
        return "not a picture: convert needs (batch, height, width, 3) or (batch, 3, height, width)"
    size = "pictures of any size" if not all(isinstance(s, int) for s in sides) else f"{sides[0]}x{sides[1]} pictures"
    return f"{layout}, {size}"


def kind_text(outputs: int | None, final: str | None) -> str:
    """What the output is, by its width and the operation that makes it."""
    ends = f" (the graph ends in {final})" if final else ""
    if outputs == 1:
        return f"one sigmoid{ends}" if final and final.lower() == "sigmoid" else f"one logit{ends}"
    count = outputs if outputs is not None else "some"
    return f"{count} probabilities{ends}" if final and final.lower() == "softmax" else f"{count} logits{ends}"


def scaling_text(own, shape) -> str:
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


def weights_text(dtypes: list[str], quantizing_ops: set[str]) -> str:
    """Whether the model is quantized and how: its weights' types, and the operations that quantize."""
    kinds = sorted(set(dtypes) - {"int32", "int64", "bool"}, key=dtypes.count, reverse=True)  # not shapes
    if quantizing_ops:
        return f"quantized: {', '.join(kinds)} weights, with {', '.join(sorted(quantizing_ops))}"
    if any(kind.startswith(("int", "uint")) for kind in kinds):
        return f"quantized: {', '.join(kinds)} weights"
    return f"not quantized: {', '.join(kinds) or 'no'} weights; make convert ARGS=\"--quantize int8 --calibration " \
        "DIR\" makes it full integer"


def bytes_text(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count / 1e3:.0f} KB"


def size_text(files: list[Path]) -> str:
    parts = ", ".join(f"{f.name} {bytes_text(f.stat().st_size)}" for f in files)
    return bytes_text(sum(f.stat().st_size for f in files)) + (f" ({parts})" if len(files) > 1 else "")


def describe(path: Path) -> dict[str, str]:
    """The fields, from the framework module that reads the model (conversion.formats)."""
    return {"model": path.name, **framework(path).describe(path)}


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
