"""Convert a model to the TF-Lite file and settings file the function serves, checked against its framework.

    python -m conversion.convert MODEL [--out clothing_model.tflite] [--labels a,b,c] [--scaling xception]
                                       [--resize antialiased] [--input-size N] [--float32] [--check-dir DIR]
                                       [--compare-runtimes]

MODEL is a Keras model (a legacy ``.h5`` file, a native ``.keras`` file or a
SavedModel folder), an ONNX model (``.onnx``, its weights inside or in
``.onnx.data`` files beside it) or a PyTorch network saved with
``torch.export.save`` (``.pt2``, converted in the training environment, where
torch is). The input size comes from the model; a channels-first input
(``[1, 3, H, W]``, as PyTorch takes pictures) is turned to take the
channels-last pictures the function prepares. The function answers
probabilities: a model with one score per label that ends in logits (as the
course's does) gets a softmax added to the converted graph; a binary model with
one output answers both labels, from the sigmoid of its logit or from its own
sigmoid, whichever its graph ends in (the settings file records which). Before
anything is written, the TF-Lite model must agree with the model's own
framework (Keras, ONNX Runtime or PyTorch) on pictures prepared by the
function's own code; the files are then moved into place whole, so a failure
never leaves a broken model behind, and every failure is one line.
"""

import argparse
import functools
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from clothing.classifier import Classifier, metadata_path, two_labels, write_metadata
from clothing.decoding.decode import decode_image
from clothing.errors import ClothingError
from clothing.model_input import RESIZES, SCALINGS, InputPreparer
from clothing.reference import reference_path, write_reference
from clothing.settings import DEFAULTS, interpreter_threads
from conversion.agreement import check_agreement
from conversion.formats import KNOWN, framework
from conversion.quantize import calibration_pictures, check_quantized, to_int8
from conversion.scaling import choose_scaling
from conversion.source import ConversionError, Source, first_line, shape_text

ROOT = Path(__file__).resolve().parent.parent
CHECK_PICTURES = 64
REFERENCE_PICTURES = 10  # of the check pictures, kept with their answers for a deploy's pre-traffic check
# A binary classifier's logit beyond this makes a probability float32 cannot tell from 0 or 1: a one-output
# model whose typical output is larger, and that ends in no sigmoid, is not the logit of a classifier.
MAX_TYPICAL_LOGIT = 50.0
PICTURE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".avif"}
# --labels' default: the shipped model's, as its settings file lists them (the ten clothing classes).
CLASSES: tuple[str, ...] = tuple(json.loads((ROOT / "clothing_model.json").read_text())["labels"])


def open_source(path: Path) -> Source:
    """The model, opened by its own framework (conversion.formats); each framework is imported only for its
    own files."""
    return framework(path).open_model(path)


def input_size(shape: tuple, asked: int | None) -> int:
    """The side of the square RGB picture the model takes, from its (NHWC) input shape or, if open, asked."""
    if len(shape) != 4 or shape[3] != 3:
        raise ConversionError(f"the model takes {shape_text(shape)}; an image input (batch, height, width, 3) "
                              "or (batch, 3, height, width) is needed")
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


def reference_pictures(pictures: list[Path], size: int) -> dict[str, bytes]:
    """A few check pictures, spread over them, as JPEGs of the model's input size: small enough to travel in
    the reference file (clothing.reference)."""
    chosen = {}
    for picture in pictures[::max(1, len(pictures) // REFERENCE_PICTURES)][:REFERENCE_PICTURES]:
        with Image.open(picture) as image:
            smaller = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
        encoded = io.BytesIO()
        smaller.save(encoded, "JPEG", quality=90)
        chosen[picture.name] = encoded.getvalue()
    return chosen


def is_probabilities(scores: np.ndarray) -> bool:
    return bool((scores >= 0).all() and np.allclose(scores.sum(axis=1), 1, atol=1e-3))


def softmax(scores: np.ndarray) -> np.ndarray:
    exponentials = np.exp(scores - scores.max(axis=1, keepdims=True))
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def output_kind(raw: np.ndarray, labels: tuple[str, ...], ends_in_sigmoid: bool) -> str:
    """What the model's output is (clothing.classifier.OUTPUTS), from its graph; ConversionError if no labels fit."""
    default = " (the default is the ten clothing classes: give yours with --labels a,b, or ARGS=\"--labels a,b\" " \
              "to make convert)" if labels == CLASSES else ""
    if raw.shape[1] == 1:
        if len(labels) != 2:
            given = "one label was" if len(labels) == 1 else f"{len(labels)} labels were"
            raise ConversionError(f"the model gives one score, which tells two classes apart, but {given} "
                                  f"given{default}: give two, first the class its score calls 0, then the one it "
                                  "calls 1")
        if ends_in_sigmoid:
            return "sigmoid"
        typical = float(np.median(np.abs(raw)))
        if typical > MAX_TYPICAL_LOGIT:
            raise ConversionError(f"the model's one output is typically {typical:.0f} away from 0 and its graph ends "
                                  f"in no sigmoid: not a binary classifier's logit (those stay within "
                                  f"{MAX_TYPICAL_LOGIT:.0f})")
        return "logit"
    if raw.shape[1] != len(labels):
        raise ConversionError(f"the model gives {raw.shape[1]} scores but {len(labels)} labels were given{default}")
    return "probabilities"


def scaled_pictures(pictures: list[Path], size: int, resize: str) -> Callable[[str], list[np.ndarray]]:
    """The check pictures as each scaling prepares them, decoded once."""
    reduce = InputPreparer(size, resize_method=resize).reduces  # as the function will decode them
    images = [decode_image(picture.read_bytes(), size, reduce=reduce) for picture in pictures]
    return functools.cache(lambda scaling: [InputPreparer(size, scaling, resize)(image) for image in images])


def convert(model: Path, out: Path, labels: tuple[str, ...] = CLASSES, scaling: str | None = None,
            asked_size: int | None = None, float16: bool = True, check_dir: Path | None = None,
            resize: str = "antialiased", quantize: str | None = None, calibration: Path | None = None) -> dict:
    """Convert, check, then move the model and its settings file into place; returns what it measured.

    ``scaling`` None: what the model's graph says it takes where it scales its own input, else xception.
    ``quantize`` "int8": full integer, calibrated on the pictures of ``calibration`` (conversion.quantize)."""
    if scaling is not None and scaling not in SCALINGS:
        raise ConversionError(f"unknown --scaling {scaling!r}; known: {', '.join(SCALINGS)}")
    if quantize and calibration is None:
        raise ConversionError("--quantize int8 needs --calibration DIR: a folder of the model's training pictures, "
                              "or of class folders of them")
    calibration_files = calibration_pictures(calibration) if quantize else []
    source = open_source(model)
    size = input_size(source.input_shape, asked_size)
    pictures = check_pictures(check_dir)
    scaled = scaled_pictures(pictures, size, resize)
    scaling, scaling_said = choose_scaling(source.own_scaling, scaling, lambda name: np.concatenate(scaled(name)))
    batches = scaled(scaling)
    try:
        raw = np.concatenate([np.asarray(source.scores(batch), dtype=np.float32) for batch in batches])
    except Exception as error:  # the framework's own error for an input it cannot take
        raise ConversionError(f"{source.framework} cannot run the model on {size}x{size} pictures "
                              f"({first_line(error)})") from None
    if raw.ndim != 2:
        raise ConversionError(f"the model gives scores of shape {shape_text(raw.shape[1:])} for a picture; one score "
                              "per label is needed")
    kind = output_kind(raw, labels, source.ends_in_sigmoid)
    add_softmax = kind == "probabilities" and not is_probabilities(raw)

    def answered(raw: np.ndarray) -> np.ndarray:
        """The framework's scores as the function answers them: probabilities, one per label."""
        return two_labels(raw, kind) if kind != "probabilities" else softmax(raw) if add_softmax else raw

    reference = answered(raw)
    kept = reference_pictures(pictures, size)
    prepare = InputPreparer(size, scaling, resize)
    kept_inputs = [prepare.from_bytes(data) for data in kept.values()]
    kept_reference = answered(np.concatenate([np.asarray(source.scores(batch), dtype=np.float32)
                                              for batch in kept_inputs]))
    flatbuffer = source.to_tflite(size, add_softmax, float16 and not quantize)

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".convert-") as scratch:
        staged = Path(scratch) / out.name
        staged.write_bytes(flatbuffer)
        write_metadata(staged, {"architecture": model.name, "source": source.framework, "input_size": size,
                                "scaling": scaling, "resize": resize, "output": kind, "labels": list(labels)})
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
        largest = check_agreement(reference, np.stack(converted), source.framework)
        check_agreement(kept_reference, np.stack([classifier.scores(batch) for batch in kept_inputs]),
                        source.framework)
        quantized_said, reference_source = "", source.framework
        if quantize:
            staged.write_bytes(to_int8(flatbuffer, calibration_inputs(calibration_files, prepare), Path(scratch)))
            classifier = Classifier(staged, threads)
            converted, invoke = [], []
            for batch in batches:
                started = time.perf_counter()
                converted.append(classifier.scores(batch))
                invoke.append(time.perf_counter() - started)
            quantized_said = check_quantized(reference, np.stack(converted))
            # the pre-traffic check compares a deploy with what this file answers, not with its float source
            kept_reference = np.stack([classifier.scores(batch) for batch in kept_inputs])
            reference_source = f"this int8 TF-Lite file as served, checked against {source.framework}"
        write_reference(staged, kept, [dict(zip(labels, row, strict=True)) for row in kept_reference],
                        reference_source)
        os.replace(reference_path(staged), reference_path(out))
        os.replace(metadata_path(staged), metadata_path(out))
        os.replace(staged, out)
    return {"pictures": len(pictures), "megabytes": out.stat().st_size / 1e6, "largest_difference": largest,
            "invoke_ms": 1000 * statistics.median(invoke), "threads": threads,
            "softmax_added": add_softmax, "input_size": size, "framework": source.framework,
            "channels_first": source.channels_first, "output": kind, "scaling": scaling,
            "scaling_said": scaling_said, "quantized_said": quantized_said}


def calibration_inputs(pictures: list[Path], prepare: InputPreparer) -> list[np.ndarray]:
    """The calibration pictures as the function prepares a request."""
    inputs = []
    for picture in pictures:
        try:
            inputs.append(prepare.from_bytes(picture.read_bytes()))
        except ClothingError as error:
            raise ConversionError(f"--calibration: {picture}: {error.message}") from None
    return inputs


BINARY = {"probabilities": "", "logit": ", one logit: answered as two probabilities through a sigmoid",
          "sigmoid": ", one sigmoid output: answered as two probabilities"}


def read_labels(text: str) -> tuple[str, ...]:
    """``a,b,c``, or a file with one label a line."""
    path = Path(text)
    labels = path.read_text().split("\n") if path.is_file() else text.split(",")
    labels = tuple(label.strip() for label in labels if label.strip())
    if len(set(labels)) != len(labels):
        raise argparse.ArgumentTypeError("the labels must differ from each other")
    return labels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help=KNOWN)
    parser.add_argument("--out", type=Path, default=ROOT / "clothing_model.tflite",
                        help="the TF-Lite file; its settings file goes beside it, with .json")
    parser.add_argument("--labels", type=read_labels, default=CLASSES,
                        help="a,b,c or a file with one label a line, in the model's output order "
                             "(default: the ten clothing classes)")
    parser.add_argument("--scaling", choices=sorted(SCALINGS),
                        help="how the model's input was scaled in training: keras-image-helper's modes, torch "
                             "for PyTorch's ImageNet normalisation, unit for x / 255, raw for pixels as decoded "
                             "(default: what the model's own Rescaling or Normalization takes, where it has one; "
                             "else xception)")
    parser.add_argument("--resize", default="antialiased", choices=list(RESIZES),
                        help="how pictures were resized in training: nearest (keras.utils.load_img, "
                             "ImageDataGenerator, PIL's NEAREST), bilinear (image_dataset_from_directory, OpenCV), "
                             "antialiased (torchvision's Resize, PIL's BILINEAR; the default)")
    parser.add_argument("--input-size", type=int, help="only for a model that takes pictures of any size")
    parser.add_argument("--float32", dest="float16", action="store_false",
                        help="keep 32-bit weights (default: float16 weights, half the file)")
    parser.add_argument("--quantize", choices=["int8"],
                        help="int8: full integer, int8 weights and activations, a quarter of the file; needs "
                             "--calibration; refused where it answers otherwise than the float model")
    parser.add_argument("--calibration", type=Path,
                        help="with --quantize: a folder of the model's training pictures, or of class folders")
    parser.add_argument("--check-dir", type=Path, help="pictures to check the conversion with")
    parser.add_argument("--compare-runtimes", action="store_true",
                        help="for an .onnx model: cold start and peak memory under LiteRT and ONNX Runtime")
    args = parser.parse_args(argv)
    try:
        report = convert(args.model, args.out, args.labels, args.scaling, args.input_size, args.float16,
                         args.check_dir, args.resize, args.quantize, args.calibration)
    except ConversionError as error:
        print(f"convert: {error}; nothing was written", file=sys.stderr)
        return 1
    except Exception as error:  # a framework's own failure on a model no check above foresaw: still one line
        print(f"convert: {type(error).__name__}: {first_line(error)}; nothing was written", file=sys.stderr)
        return 1
    print(f"{args.out}: {report['megabytes']:.1f} MB, {report['input_size']} px, {len(args.labels)} labels"
          f"{', channels-first input turned channels-last' if report['channels_first'] else ''}"
          f"{', softmax added to its logits' if report['softmax_added'] else ''}"
          f"{BINARY[report['output']]}"
          f"{'; ' + report['scaling_said'] if report['scaling_said'] else ''}")
    print(f"checked against {report['framework']} on {report['pictures']} pictures: "
          f"{'as float32, ' if report['quantized_said'] else ''}largest score difference "
          f"{report['largest_difference']:.4f}; median invoke {report['invoke_ms']:.1f} ms with "
          f"{report['threads']} threads")
    if report["quantized_said"]:
        print(report["quantized_said"])
    if args.compare_runtimes and args.model.suffix.lower() == ".onnx":
        from conversion import runtimes

        print(runtimes.report(runtimes.compare(args.out, args.model)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
