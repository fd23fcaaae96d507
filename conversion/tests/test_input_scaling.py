"""Models built as today's Keras tutorials build them, each scaling its input its own way: converted as the
docs say (make inspect, then make convert), then served by ``lambda_handler`` and compared with Keras fed the
same pixels; or refused in one line that says what to pass.

- TensorFlow's image classification tutorial: ``layers.Rescaling(1./255)`` first, the model takes pixels 0..255;
- keras.applications with ``include_preprocessing`` (MobileNetV3, EfficientNet, ConvNeXt): the same, inside a
  nested model;
- ``ImageDataGenerator(rescale=1./255)``: the scaling outside the model, x / 255;
- the Rescaling model exported to ONNX by tf2onnx, where it becomes a Mul and an Add on the input.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from clothing.model_input import InputPreparer
from conversion.tests.serving import PICTURES, inspected, run_convert, served

pytestmark = [pytest.mark.keras,
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

LABELS = ("cat", "dog", "fox", "owl")
SIZE = 64


def keras_answers(model, scaling: str, pictures=PICTURES) -> np.ndarray:
    """Keras's own probabilities for the pictures, prepared by the function's own code with ``scaling``."""
    prepare = InputPreparer(SIZE, scaling)
    return np.concatenate([np.asarray(model(prepare.from_bytes(p.read_bytes()),
                                            training=False))
                           for p in pictures])


def served_answers(out, labels=LABELS) -> np.ndarray:
    return np.array([[answer[label] for label in labels] for answer in served(out)])


def head(name: str = "inner", outputs: int = len(LABELS)) -> keras.Model:
    """A small trained-looking network that ends in a softmax: what sits after the preprocessing."""
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
                             keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
                             keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dense(outputs, activation="softmax")], name=name)


@pytest.fixture(scope="module")
def rescaling_inside(tmp_path_factory):
    """The tutorial's shape: Rescaling(1./255), then a nested model that ends in a softmax."""
    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Rescaling(1.0 / 255), head()])
    path = tmp_path_factory.mktemp("scaling") / "rescaling.keras"
    model.save(path)
    return path, model


def assert_served_as_keras(out, model, scaling: str, labels=LABELS):
    got, expected = served_answers(out, labels), keras_answers(model, scaling)
    np.testing.assert_allclose(got, expected, atol=0.02)
    assert (got.argmax(1) == expected.argmax(1)).all()


def test_rescaling_inside_is_found_named_and_served_as_keras_answers_raw_pixels(rescaling_inside, tmp_path):
    path, model = rescaling_inside
    [fields] = inspected(path)
    assert fields["scaling"] == ("the graph scales its own input first (Rescaling(scale=0.003922, offset=0)): "
                                 "make convert takes --scaling raw")
    out = tmp_path / "model.tflite"
    result = run_convert(path, "--out", out, "--labels", ",".join(LABELS))
    assert result.returncode == 0, result.stderr
    assert "the model scales its own input (Rescaling(scale=0.003922, offset=0)): --scaling raw" in result.stdout
    assert_served_as_keras(out, model, "raw")


def test_a_nested_model_ending_in_softmax_is_read_through_and_gets_no_second_softmax(rescaling_inside, tmp_path):
    path, _ = rescaling_inside
    assert inspected(path)[0]["output"].endswith("(batch, 4): 4 probabilities (the graph ends in softmax)")
    out = tmp_path / "model.tflite"
    result = run_convert(path, "--out", out, "--labels", ",".join(LABELS))
    assert result.returncode == 0 and "softmax added" not in result.stdout


@pytest.mark.parametrize("wrong", ["xception", "unit", "torch"])
def test_a_scaling_that_does_not_fit_the_models_own_layer_is_refused_in_one_line(rescaling_inside, tmp_path,
                                                                                  wrong):
    path, _ = rescaling_inside
    out = tmp_path / "model.tflite"
    result = run_convert(path, "--out", out, "--labels", ",".join(LABELS), "--scaling", wrong)
    assert result.returncode == 1
    [line] = [line for line in result.stderr.splitlines() if line.startswith("convert: ")]
    assert line.startswith(f"convert: --scaling {wrong} does not fit the model's own Rescaling(scale=0.003922, ")
    assert line.endswith("pass --scaling raw; nothing was written")
    assert not out.exists()


def test_keras_applications_with_include_preprocessing_serves_as_keras(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV3Small(input_shape=(SIZE, SIZE, 3), weights=None, classes=3, alpha=0.75,
                                                minimalistic=True, include_preprocessing=True)
    path = tmp_path / "mobilenet_v3.keras"
    model.save(path)
    assert inspected(path)[0]["scaling"].endswith("make convert takes --scaling raw")
    out = tmp_path / "model.tflite"
    result = run_convert(path, "--out", out, "--labels", "a,b,c")
    assert result.returncode == 0, result.stderr
    assert "the model scales its own input (Rescaling(scale=0.007843, offset=-1)): --scaling raw" in result.stdout
    assert_served_as_keras(out, model, "raw", labels=("a", "b", "c"))


def test_a_model_trained_on_x_over_255_serves_as_keras_with_scaling_unit(tmp_path):
    model = head("unit")
    path = tmp_path / "unit.keras"
    model.save(path)
    assert inspected(path)[0]["scaling"].startswith("the graph does not scale its own input")
    out = tmp_path / "model.tflite"
    result = run_convert(path, "--out", out, "--labels", ",".join(LABELS), "--scaling", "unit")
    assert result.returncode == 0, result.stderr
    assert_served_as_keras(out, model, "unit")


def test_the_rescaling_model_exported_by_tf2onnx_is_found_and_served_as_keras(rescaling_inside, tmp_path):
    import tf2onnx

    _, model = rescaling_inside
    signature = (tf.TensorSpec((None, SIZE, SIZE, 3), tf.float32, name="image"),)
    # from_function, as tf2onnx's own advice for Keras 3 models (its from_keras reads Keras 2's internals)
    exported, _ = tf2onnx.convert.from_function(tf.function(lambda x: model(x), input_signature=signature),
                                                input_signature=signature, opset=17)
    path = tmp_path / "rescaling.onnx"
    path.write_bytes(exported.SerializeToString())
    assert inspected(path)[0]["scaling"].startswith("the graph scales its own input first (Mul 0.003922, Add 0")
    out = tmp_path / "model.tflite"
    result = run_convert(path, "--out", out, "--labels", ",".join(LABELS))
    assert result.returncode == 0, result.stderr
    assert "--scaling raw" in result.stdout
    assert_served_as_keras(out, model, "raw")
