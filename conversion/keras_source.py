"""Keras models (``.h5``, ``.keras``, a SavedModel folder) as a conversion source."""

import contextlib
import functools
import io
import os
import re
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter; errors still show

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from conversion.source import ConversionError, Source, first_line  # noqa: E402

SUFFIXES = (".h5", ".keras")


def open_keras(path: Path) -> Source:
    model = load(path)
    return Source("Keras", tuple(model.inputs[0].shape), channels_first=False,
                  scores=lambda batch: np.asarray(model(batch, training=False)),
                  to_tflite=functools.partial(to_tflite, model))


def load(path: Path):
    """A Keras model from a ``.h5`` or ``.keras`` file, or a SavedModel folder (wrapped as a Keras layer)."""
    if path.is_dir():
        model = _load_saved_model(path)
    else:
        try:
            model = keras.models.load_model(path, compile=False)
        except Exception as error:  # Keras raises many kinds for a file it cannot read
            raise ConversionError(f"{path}: not a model Keras can read ({first_line(error)})") from None
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


def _conversion_failure(error: BaseException) -> str:
    """The operations TF-Lite lacks and the model's layer that uses them, as the converter names them."""
    text = str(error)
    ops = re.search(r"TF Select ops: ([\w, ]+)", text) or re.search(r"'tf\.(\w+)' op is neither", text)
    layer = re.search(r"sequential(?:_\d+)?/[\w.-]+/([\w.-]+)/", text)
    if ops:
        where = f" (in layer {layer.group(1)})" if layer else ""
        return f"it uses operations that are not TF-Lite built-ins: {ops.group(1)}{where}"
    return first_line(error)
