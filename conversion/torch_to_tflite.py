"""PyTorch to TF-Lite through ONNX: ``torch.onnx.export`` here, then onnx2tf in the conversion environment.

The one path the training pipeline (``training.convert``), ``make convert`` for
``.pt2`` networks and the benchmark's course model take, and the same one a
user's ``.onnx`` file takes (``conversion.onnx_source``), so that every network
becomes TF-Lite one way. torch lives in the training environment and onnx2tf
(with TensorFlow) in the conversion one; each step runs where its library is.
"""

import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import torch

from conversion.source import ConversionError, first_line

ROOT = Path(__file__).resolve().parent.parent
# The conversion environment's Python; CONVERT_PYTHON names another one.
CONVERT_PYTHON = os.environ.get("CONVERT_PYTHON") or str(ROOT / "conversion" / ".venv" / "bin" / "python")


def export_onnx(network, example: torch.Tensor, path: Path) -> Path:
    """``network`` (a module in eval mode, or an exported program) as an ONNX file taking ``example``'s shape."""
    # the exporter's notes on its own internals (which optional packages it lacks...): not the command's report
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(action="ignore"), contextlib.redirect_stdout(sys.stderr), torch.no_grad():
            torch.onnx.export(network, (example,), str(path), dynamo=True, verbose=False,
                              input_names=["images"], output_names=["scores"])
    except Exception as error:  # the exporter raises many kinds; the first line names what failed
        raise ConversionError(f"torch.onnx.export cannot export the network: {first_line(error)}") from None
    return path


def to_tflite(network, size: int, add_softmax: bool = True, float16: bool = True,
              channels_first: bool = True) -> bytes:
    """``network``, taking pictures of ``size`` (NCHW if ``channels_first``), as TF-Lite bytes taking NHWC ones.

    ``add_softmax`` appends a softmax (for a network that answers logits); ``float16`` halves the weights.
    """
    if not Path(CONVERT_PYTHON).exists():
        raise ConversionError(f"the conversion environment's Python ({CONVERT_PYTHON}) is missing: "
                              "`make conversion/.venv/.ready` makes it, or set CONVERT_PYTHON")
    shape = (1, 3, size, size) if channels_first else (1, size, size, 3)
    with tempfile.TemporaryDirectory(prefix="pytorch-") as scratch:
        source, target = Path(scratch) / "model.onnx", Path(scratch) / "model.tflite"
        export_onnx(network, torch.zeros(shape), source)
        flags = [flag for flag, wanted in (("--channels-first", channels_first), ("--softmax", add_softmax),
                                           ("--float16", float16)) if wanted]
        result = subprocess.run([CONVERT_PYTHON, "-m", "conversion.onnx_source", str(source), str(target),
                                 "--size", str(size), *flags], cwd=ROOT, capture_output=True, text=True)
        if result.returncode:
            lines = result.stderr.strip().splitlines() or [f"exit status {result.returncode}"]
            raise ConversionError(lines[-1])
        return target.read_bytes()
