"""Every model format ``make convert`` and ``make inspect`` read: one row each, naming the framework module that
reads it and the environment it runs in.

A framework module has two functions: ``open_model(path) -> conversion.source.Source`` (the model opened by its
own framework, able to answer and to become TF-Lite) and ``describe(path) -> dict`` (``make inspect``'s fields).
Adding a format is one such module and one row here; the Makefile asks this table which environment a model
needs (``python -m conversion.formats environment MODEL``). Standard library only: the Makefile runs it with
whatever Python there is.

    python -m conversion.formats environment MODEL   # conversion or training
"""

import importlib
import sys
from pathlib import Path
from typing import NamedTuple


class Format(NamedTuple):
    described: str  # as a refusal names it
    suffixes: tuple[str, ...]
    module: str
    environment: str  # "conversion" (TensorFlow and onnx2tf) or "training" (torch)
    folder: bool = False  # a folder is one model of this format (a SavedModel)


FORMATS = (
    Format("a .h5 or .keras file, a SavedModel folder", (".h5", ".keras"), "conversion.keras_source", "conversion",
           folder=True),
    Format("an .onnx file", (".onnx",), "conversion.onnx_source", "conversion"),
    # .pt and .pth are refused there, with how to save a network that converts
    Format("a .pt2 file", (".pt2", ".pt", ".pth"), "conversion.torch_source", "training"),
)
KNOWN = ", ".join(f.described for f in FORMATS[:-1]) + " or " + FORMATS[-1].described


def format_of(path: Path) -> Format | None:
    """The row that reads ``path``, by its suffix, or as a folder; None for none."""
    suffix = path.suffix.lower()
    return next((f for f in FORMATS if suffix in f.suffixes or (f.folder and path.is_dir())), None)


def framework(path: Path):
    """The framework module that reads ``path``; ConversionError, in one line, for what none reads."""
    from conversion.source import ConversionError  # noqa: PLC0415 - NumPy, which the Makefile's Python may lack

    if not path.exists():
        raise ConversionError(f"{path}: no such file or folder")
    found = format_of(path)
    if found is None:
        raise ConversionError(f"{path}: not a model this converter reads; give {KNOWN}")
    try:
        return importlib.import_module(found.module)
    except ImportError as error:
        if found.environment == "training":
            raise ConversionError(f"{path}: a {path.suffix} network converts where torch is, in the training "
                                  "environment: make convert runs it there; or export it to ONNX "
                                  "(torch.onnx.export)") from None
        raise ConversionError(f"{path}: {found.module} cannot be imported here ({error})") from None


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 2 or arguments[0] != "environment":
        print("usage: python -m conversion.formats environment MODEL", file=sys.stderr)
        return 2
    found = format_of(Path(arguments[1]))
    print(found.environment if found else "conversion")  # there, the converter refuses it in one line
    return 0


if __name__ == "__main__":
    sys.exit(main())
