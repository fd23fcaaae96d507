"""This project's network as ONNX, for the course's ONNX Runtime design in `make bench` (benchmarks/course_onnx).

    python -m benchmarks.onnx_model      # in the conversion environment, where tf2onnx is; make bench runs it

The float network the shipped int8 file is quantized from (training/float), with its float16 weights widened to
float32 as an ONNX export from PyTorch would hold them, written by tf2onnx: the same network the course's
design would export and serve.
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tf2onnx  # noqa: E402

from conversion.quantize import float32_weights  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FLOAT_MODEL = ROOT / "training" / "float" / "clothing_model.tflite"
OUT = ROOT / "build" / "bench" / "clothing_model.onnx"


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        float32 = Path(scratch) / "float32.tflite"
        float32.write_bytes(float32_weights(FLOAT_MODEL.read_bytes()))
        tf2onnx.convert.from_tflite(str(float32), opset=17, output_path=str(OUT))
    print(f"wrote {OUT.relative_to(ROOT)}: {OUT.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
