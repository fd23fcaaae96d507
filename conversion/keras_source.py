"""Keras models (``.h5``, ``.keras``, a SavedModel folder) as a conversion source."""

import contextlib
import functools
import io
import itertools
import json
import os
import re
import zipfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter; errors still show

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from conversion.saved_model_ops import check_saved_model  # noqa: E402
from conversion.source import ConversionError, OwnScaling, Source, first_line, shape_text, short  # noqa: E402

PREPROCESSING = (keras.layers.Rescaling, keras.layers.Normalization)


def open_model(path: Path) -> Source:
    model = load(path)
    return Source("Keras", tuple(model.inputs[0].shape), channels_first=False,
                  scores=lambda batch: np.asarray(model(batch, training=False)),
                  to_tflite=functools.partial(to_tflite, model), ends_in_sigmoid=ends_in_sigmoid(model),
                  own_scaling=own_scaling(model))


def layers_in_order(model):
    """The model's layers, those of the models nested in it opened in their place, input layers left out."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):  # a Sequential or Functional inside, as keras.applications' are
            yield from layers_in_order(layer)
        elif not isinstance(layer, keras.layers.InputLayer):
            yield layer


def _named(layer) -> str:
    if isinstance(layer, keras.layers.Rescaling):
        return f"Rescaling(scale={short(layer.scale)}, offset={short(layer.offset)})"
    return f"Normalization(mean={short(layer.mean)}, variance={short(layer.variance)})"


def own_scaling(model) -> OwnScaling | None:
    """The Rescaling and Normalization layers the model starts with, nested models included (keras.applications'
    ``include_preprocessing``, the tutorials' ``Rescaling(1./255)``), or None."""
    first = list(itertools.takewhile(lambda layer: isinstance(layer, PREPROCESSING), layers_in_order(model)))
    if not first:
        return None

    def apply(batch: np.ndarray) -> np.ndarray:
        for layer in first:
            batch = layer(batch)
        return np.asarray(batch)

    return OwnScaling(" then ".join(map(_named, first)), apply)


def final_operation(model) -> str | None:
    """What makes the model's output: its last layer's activation (``sigmoid``, ``softmax``), the layer's
    own kind when it has none (``Dense``), or for a SavedModel the graph's last operation (``Sigmoid``);
    a nested model's own last layer where the model ends in one."""
    last = model.layers[-1]
    if isinstance(last, keras.Model):
        return final_operation(last)
    if isinstance(last, keras.layers.TFSMLayer):
        try:
            operation = last.call_endpoint_fn.outputs[0].op
        except (AttributeError, IndexError):  # a restored function that does not show its graph
            return None
        while operation.type == "Identity":
            operation = operation.inputs[0].op
        return operation.type
    activation = getattr(getattr(last, "activation", None), "__name__", None)
    return activation if activation not in (None, "linear") else type(last).__name__


def ends_in_sigmoid(model) -> bool:
    """Whether the model ends in a sigmoid: ``Dense(1, activation="sigmoid")``, an ``Activation`` layer..."""
    return (final_operation(model) or "").lower() == "sigmoid"


def saved_by(path: Path) -> str | None:
    """The Keras version that saved ``path``, as the file records it (``metadata.json``, or the .h5 attributes)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return json.loads(archive.read("metadata.json"))["keras_version"]
        import h5py  # noqa: PLC0415 - Keras's own dependency, for legacy files only

        with h5py.File(path, "r") as file:
            version = file.attrs.get("keras_version")
            return version.decode() if isinstance(version, bytes) else version
    except Exception:  # no version recorded, or not a file of either kind: nothing to say
        return None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def load(path: Path):
    """A Keras model from a ``.h5`` or ``.keras`` file, or a SavedModel folder (wrapped as a Keras layer)."""
    if path.is_dir():
        model = _load_saved_model(path)
    else:
        try:
            model = keras.models.load_model(path, compile=False)
        except Exception as error:  # Keras raises many kinds for a file it cannot read
            saved = saved_by(path)
            if saved and _version(saved) > _version(keras.__version__):
                raise ConversionError(f"{path}: saved by Keras {saved}, newer than this converter's Keras "
                                      f"{keras.__version__}, which cannot read it; raise keras in "
                                      "conversion/requirements.txt, or save it with Keras "
                                      f"{keras.__version__}") from None
            raise ConversionError(f"{path}: not a model Keras can read ({first_line(error)})") from None
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ConversionError(f"{path}: the model has {len(model.inputs)} inputs and {len(model.outputs)} "
                              "outputs; one image input and one output are needed")
    return model


def _load_saved_model(path: Path):
    if not (path / "saved_model.pb").exists():
        raise ConversionError(f"{path}: a folder, but not a SavedModel (no saved_model.pb)")
    check_saved_model(path)  # read as data: loading runs its initializers, and the check its serving function
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


def describe(path: Path) -> dict[str, str]:
    """make inspect's fields for a Keras model."""
    from conversion.inspect_model import kind_text, picture_text, scaling_text, size_text, weights_text  # noqa: PLC0415

    model = load(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    kind = "SavedModel folder" if path.is_dir() else path.suffix
    version = saved_by(path) if not path.is_dir() else None
    inputs, output = model.inputs[0], model.outputs[0]
    final = final_operation(model)
    shape_in, shape_out = list(inputs.shape), list(output.shape)
    return {"format": f"Keras {kind}" + (f", saved by Keras {version}" if version else "")
                      + f" (read by Keras {keras.__version__})",
            "size": size_text(files),
            "input": f"{inputs.name}, {inputs.dtype}, {shape_text(shape_in)}: {picture_text(shape_in)}",
            "output": f"{output.name}, {output.dtype}, {shape_text(shape_out)}: {kind_text(shape_out[-1], final)}",
            "scaling": scaling_text(own_scaling(model), shape_in),
            "weights": weights_text([str(weight.dtype) for weight in model.weights], set())}
