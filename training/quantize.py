"""The shipped model at full integer: int8 weights and activations, calibrated on training pictures.

    python -m training.quantize [--model training/float/clothing_model.tflite] [--out build/candidate/...]
    make quantize     # this, then training.evaluate --promote-cheaper: shipped only if not worse beyond the margin

The float network (``training/float/``, the float16 file shipped before, whose own checkpoint is gone) has its
float16 weights widened back to float32, exactly (``conversion.quantize.float32_weights``), and is quantized from
there: the same network, no retraining. The
calibration pictures come from the training split (never validation's), prepared exactly as a request is (the
function's decode and the settings file's resize and scaling). The candidate's settings are the shipped
model's; its reference answers (for the pre-traffic check) are its own, as served.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from clothing.classifier import Classifier, metadata_path
from clothing.reference import write_reference
from conversion.convert import check_pictures, reference_pictures
from conversion.quantize import calibration_pictures, check_quantized, to_int8
from conversion.source import ConversionError
from training import config

CANDIDATE = config.ROOT / "build" / "candidate" / "clothing_model.int8.tflite"
FLOAT_MODEL = config.ROOT / "training" / "float" / "clothing_model.tflite"


def quantize(model: Path, out: Path, training_dir: Path) -> str:
    """Writes the int8 candidate, its settings and reference answers beside ``out``; the check's figures."""
    float_model = Classifier(model, threads=2)
    inputs = [float_model.prepare(float_model.decode(p.read_bytes())) for p in calibration_pictures(training_dir)]
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        out.write_bytes(to_int8(model.read_bytes(), inputs, Path(scratch)))
    Path(metadata_path(out)).write_text(Path(metadata_path(model)).read_text())
    quantized = Classifier(out, threads=2)  # the same settings file: the same decode and preparation
    checked = [float_model.prepare(float_model.decode(p.read_bytes())) for p in check_pictures(None)]
    said = check_quantized(np.stack([float_model.scores(batch) for batch in checked]),
                           np.stack([quantized.scores(batch) for batch in checked]))
    kept = reference_pictures(check_pictures(None), quantized.input_size)
    write_reference(out, kept, [quantized.classify_bytes(data) for data in kept.values()],
                    "this int8 TF-Lite file as served")
    return said


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=FLOAT_MODEL)
    parser.add_argument("--out", type=Path, default=CANDIDATE)
    parser.add_argument("--training-dir", type=Path, default=config.DATASET / "train")
    args = parser.parse_args(argv)
    try:
        said = quantize(args.model, args.out, args.training_dir)
    except (ConversionError, OSError, ValueError) as error:
        print(f"quantize: {error}", file=sys.stderr)
        return 1
    print(f"{args.out}: {args.out.stat().st_size / 1e6:.1f} MB; {said}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
