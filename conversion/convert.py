"""Convert a Keras model to the TF-Lite file and settings file the function serves, checked against Keras.

    python -m conversion.convert MODEL [--out clothing_model.tflite] [--labels a,b,c] [--scaling xception]
                                       [--input-size N] [--float32] [--check-dir DIR]

MODEL is a legacy ``.h5`` file, a native ``.keras`` file or a SavedModel folder.
The input size comes from the model; the output is always probabilities: a
model that ends in logits (as the course's does) gets a softmax added to the
converted graph. Before anything is written, the TF-Lite model must agree with
Keras on pictures prepared by the function's own code; the files are then
moved into place whole, so a failure never leaves a broken model behind.
"""

import argparse
import contextlib
import io
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter; errors still show

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from clothing.classifier import Classifier, metadata_path, write_metadata  # noqa: E402
from clothing.images import SCALINGS, InputPreparer, decode_image  # noqa: E402
from clothing.labels import CLASSES  # noqa: E402
from clothing.settings import DEFAULTS, interpreter_threads  # noqa: E402
from conversion.agreement import MAX_SCORE_DIFFERENCE, disagreement  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHECK_PICTURES = 64
PICTURE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"}


class ConversionError(Exception):
    """The model cannot be served: said in one line, and nothing is written."""


def load(path: Path):
    """A Keras model from a ``.h5`` or ``.keras`` file, or a SavedModel folder (wrapped as a Keras layer)."""
    if not path.exists():
        raise ConversionError(f"{path}: no such file or folder")
    if path.is_dir():
        model = _load_saved_model(path)
    elif path.suffix.lower() not in (".h5", ".keras"):
        raise ConversionError(f"{path}: not a Keras model; give a .h5 or .keras file or a SavedModel folder")
    else:
        try:
            model = keras.models.load_model(path, compile=False)
        except Exception as error:  # Keras raises many kinds for a file it cannot read
            raise ConversionError(f"{path}: not a model Keras can read ({_first_line(error)})") from None
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ConversionError(f"{path}: the model has {len(model.inputs)} inputs and {len(model.outputs)} "
                              "outputs; one image input and one output are needed")
    return model


def _load_saved_model(path: Path):
    if not (path / "saved_model.pb").exists():
        raise ConversionError(f"{path}: a folder, but not a SavedModel (no saved_model.pb)")
    signature = tf.saved_model.load(str(path)).signatures.get("serving_default")
    if signature is None:
        raise ConversionError(f"{path}: the SavedModel has no serving_default signature")
    inputs, outputs = signature.structured_input_signature[1], signature.structured_outputs
    if len(inputs) != 1 or len(outputs) != 1:
        raise ConversionError(f"{path}: the model has {len(inputs)} inputs and {len(outputs)} outputs; "
                              "one image input and one output are needed")
    [spec], [output_name] = inputs.values(), outputs
    image = keras.Input(shape=spec.shape[1:], batch_size=spec.shape[0])
    return keras.Model(image, keras.layers.TFSMLayer(path, call_endpoint="serving_default")(image)[output_name])


def input_size(model, asked: int | None) -> int:
    """The side of the square RGB picture the model takes, from its input shape or, if it leaves it open, asked."""
    shape = list(model.inputs[0].shape)
    if len(shape) != 4 or shape[3] != 3:
        raise ConversionError(f"the model takes {_shape(shape)}; an image input (batch, height, width, 3) is needed")
    height, width = shape[1], shape[2]
    if height is None and width is None:
        if asked is None:
            raise ConversionError("the model takes pictures of any size: say which with --input-size")
        return asked
    if height != width:
        raise ConversionError(f"the model takes {height}x{width} pictures; only square inputs are served")
    if asked is not None and asked != height:
        raise ConversionError(f"the model takes {height}x{height} pictures, not --input-size {asked}")
    return height


def check_pictures(check_dir: Path | None) -> list[Path]:
    """The pictures the check runs on: --check-dir, else the validation split if there, else tests/images."""
    candidates = [check_dir] if check_dir else []
    if os.environ.get("CLOTHING_DATA"):
        candidates.append(Path(os.environ["CLOTHING_DATA"]) / "validation")
    candidates.append(ROOT / "tests" / "images")
    for folder in candidates:
        pictures = sorted(p for p in folder.rglob("*") if p.suffix.lower() in PICTURE_SUFFIXES)
        if pictures:
            step = max(1, len(pictures) // CHECK_PICTURES)  # spread over the classes, not the first few
            return pictures[::step][:CHECK_PICTURES]
        if folder == check_dir:
            raise ConversionError(f"{check_dir}: no JPEG, PNG, WebP, GIF or BMP pictures to check with")
    raise ConversionError("no pictures to check the conversion with: give --check-dir")


def is_probabilities(scores: np.ndarray) -> bool:
    return bool((scores >= 0).all() and np.allclose(scores.sum(axis=1), 1, atol=1e-3))


def check_agreement(reference: np.ndarray, converted: np.ndarray) -> float:
    """The largest score difference; ConversionError unless the TF-Lite model agrees with Keras."""
    disagree, largest, agrees = disagreement(reference, converted)
    if not agrees:
        raise ConversionError(f"the TF-Lite model differs from Keras: another top answer on {disagree} clear "
                              f"pictures, scores up to {largest:.4f} apart (at most {MAX_SCORE_DIFFERENCE})")
    return largest


def to_tflite(model, size: int, add_softmax: bool, float16: bool) -> bytes:
    """The model as TF-Lite, taking one picture of ``size``, ending in a softmax if it did not."""
    served = keras.Sequential([keras.Input((size, size, 3), batch_size=1, name="image"), model,
                               *([keras.layers.Softmax()] if add_softmax else [])])
    converter = tf.lite.TFLiteConverter.from_keras_model(served)
    if float16:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # Keras prints the SavedModel it passes through
            return converter.convert()
    except Exception as error:  # the converter's errors name the op and the layer; its first lines say which
        raise ConversionError(f"TF-Lite cannot convert the model: {_conversion_failure(error)}") from None


def convert(model: Path, out: Path, labels: tuple[str, ...] = CLASSES, scaling: str = "xception",
            asked_size: int | None = None, float16: bool = True, check_dir: Path | None = None) -> dict:
    """Convert, check, then move the model and its settings file into place; returns what it measured."""
    if scaling not in SCALINGS:
        raise ConversionError(f"unknown --scaling {scaling!r}; known: {', '.join(SCALINGS)}")
    network = load(model)
    size = input_size(network, asked_size)
    outputs = network.outputs[0].shape[-1]
    if outputs != len(labels):
        raise ConversionError(f"the model gives {outputs} scores but {len(labels)} labels were given")
    prepare = InputPreparer(size, scaling)
    pictures = check_pictures(check_dir)
    batches = [prepare(decode_image(picture.read_bytes(), size)) for picture in pictures]
    raw = np.concatenate([np.asarray(network(batch, training=False)) for batch in batches])
    add_softmax = not is_probabilities(raw)
    reference = tf.nn.softmax(raw).numpy() if add_softmax else raw
    flatbuffer = to_tflite(network, size, add_softmax, float16)

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".convert-") as scratch:
        staged = Path(scratch) / out.name
        staged.write_bytes(flatbuffer)
        write_metadata(staged, {"architecture": model.name, "input_size": size, "scaling": scaling,
                                "labels": list(labels)})
        threads, _ = interpreter_threads(DEFAULTS.interpreter_threads, None)  # as the function here would
        try:
            classifier = Classifier(staged, threads)
        except ValueError as error:
            raise ConversionError(f"the TF-Lite model cannot be served: {error}") from None
        converted, invoke = [], []
        for batch in batches:
            started = time.perf_counter()
            converted.append(classifier.scores(batch))
            invoke.append(time.perf_counter() - started)
        largest = check_agreement(reference, np.stack(converted))
        os.replace(metadata_path(staged), metadata_path(out))
        os.replace(staged, out)
    return {"pictures": len(pictures), "megabytes": out.stat().st_size / 1e6, "largest_difference": largest,
            "invoke_ms": 1000 * statistics.median(invoke), "threads": threads,
            "softmax_added": add_softmax, "input_size": size}


def read_labels(text: str) -> tuple[str, ...]:
    """``a,b,c``, or a file with one label a line."""
    path = Path(text)
    labels = path.read_text().split("\n") if path.is_file() else text.split(",")
    labels = tuple(label.strip() for label in labels if label.strip())
    if len(set(labels)) != len(labels):
        raise argparse.ArgumentTypeError("the labels must differ from each other")
    return labels


def _shape(shape: list) -> str:
    return "(" + ", ".join("any" if side is None else str(side) for side in shape) + ")"


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def _conversion_failure(error: BaseException) -> str:
    """The operations TF-Lite lacks and the model's layer that uses them, as the converter names them."""
    text = str(error)
    ops = re.search(r"TF Select ops: ([\w, ]+)", text) or re.search(r"'tf\.(\w+)' op is neither", text)
    layer = re.search(r"sequential(?:_\d+)?/[\w.-]+/([\w.-]+)/", text)
    if ops:
        where = f" (in layer {layer.group(1)})" if layer else ""
        return f"it uses operations that are not TF-Lite built-ins: {ops.group(1)}{where}"
    return _first_line(error)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="a .h5 or .keras file, or a SavedModel folder")
    parser.add_argument("--out", type=Path, default=ROOT / "clothing_model.tflite",
                        help="the TF-Lite file; its settings file goes beside it, with .json")
    parser.add_argument("--labels", type=read_labels, default=CLASSES,
                        help="a,b,c or a file with one label a line, in the model's output order "
                             "(default: the ten clothing classes)")
    parser.add_argument("--scaling", default="xception", choices=sorted(SCALINGS),
                        help="keras-image-helper's preprocessing the model was trained with")
    parser.add_argument("--input-size", type=int, help="only for a model that takes pictures of any size")
    parser.add_argument("--float32", dest="float16", action="store_false",
                        help="keep 32-bit weights (default: float16 weights, half the file)")
    parser.add_argument("--check-dir", type=Path, help="pictures to check the conversion with")
    args = parser.parse_args(argv)
    try:
        report = convert(args.model, args.out, args.labels, args.scaling, args.input_size, args.float16,
                         args.check_dir)
    except ConversionError as error:
        print(f"convert: {error}; nothing was written", file=sys.stderr)
        return 1
    print(f"{args.out}: {report['megabytes']:.1f} MB, {report['input_size']} px, {len(args.labels)} labels"
          f"{', softmax added to its logits' if report['softmax_added'] else ''}")
    print(f"checked against Keras on {report['pictures']} pictures: largest score difference "
          f"{report['largest_difference']:.4f}; median invoke {report['invoke_ms']:.1f} ms with "
          f"{report['threads']} threads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
