"""`make convert` on Keras models built here: converted, checked, then served unchanged by the function.

Every model is made by the test (no downloads). Conversions run as the
command does, in a fresh process; serving runs ``lambda_handler`` in another,
with MODEL_PATH pointing at the result.
"""

import json
import re
import time
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from clothing.model_input import InputPreparer
from conversion.agreement import check_agreement
from conversion.convert import CLASSES
from conversion.source import ConversionError
from conversion.tests.serving import PICTURES, ROOT, inspected, run_convert, served

pytestmark = [pytest.mark.keras,
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # TensorFlow's and Keras's own
              pytest.mark.filterwarnings("ignore::UserWarning")]


def keras_scores(model, size: int, pictures=PICTURES, resize: str = "antialiased") -> np.ndarray:
    """Keras's own outputs for pictures prepared by the function's own code."""
    prepare = InputPreparer(size, "xception", resize)
    return np.concatenate([np.asarray(model(prepare.from_bytes(p.read_bytes()),
                                            training=False)) for p in pictures])


def keras_probabilities(model, size: int, pictures=PICTURES, resize: str = "antialiased") -> np.ndarray:
    """Keras's answers as probabilities: a softmax of its logits where it gives logits."""
    scores = keras_scores(model, size, pictures, resize)
    return scores if np.allclose(scores.sum(1), 1, atol=1e-3) else tf.nn.softmax(scores).numpy()


def small_network(size: int | None, outputs: int, activation: str | None) -> keras.Model:
    keras.utils.set_random_seed(0)
    image = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(image)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(image, keras.layers.Dense(outputs, activation=activation)(x))


@pytest.fixture(scope="module")
def logits_h5(tmp_path_factory):
    """A model that ends in a plain Dense, as the course's does, saved as legacy .h5."""
    model = small_network(64, len(CLASSES), None)
    path = tmp_path_factory.mktemp("keras") / "logits.h5"
    model.save(path)
    return path, model


def test_a_logits_model_is_served_as_probabilities_that_match_keras(logits_h5, tmp_path):
    path, model = logits_h5
    out = tmp_path / "model.tflite"
    result = run_convert(path, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "softmax added to its logits" in result.stdout and "largest score difference" in result.stdout
    answers = served(out)
    assert all(list(answer) == list(CLASSES) for answer in answers)
    got = np.array([[answer[label] for label in CLASSES] for answer in answers])
    np.testing.assert_allclose(got.sum(1), 1, atol=1e-4)
    np.testing.assert_allclose(got, keras_probabilities(model, 64), atol=0.02)


def test_a_softmax_model_with_five_labels_is_served_with_those_labels(tmp_path):
    model = small_network(48, 5, "softmax")
    path = tmp_path / "five.keras"
    model.save(path)
    out = tmp_path / "five.tflite"
    result = run_convert(path, "--out", out, "--labels", "cat,dog,fox,owl,yak")
    assert result.returncode == 0, result.stderr
    assert "softmax added" not in result.stdout
    answers = served(out, PICTURES[:6])
    assert [list(answer) for answer in answers] == [["cat", "dog", "fox", "owl", "yak"]] * 6
    got = np.array([list(answer.values()) for answer in answers])
    np.testing.assert_allclose(got, keras_probabilities(model, 48, PICTURES[:6]), atol=0.02)
    settings = json.loads((tmp_path / "five.json").read_text())
    assert (settings["input_size"], settings["scaling"]) == (48, "xception")


def test_todays_keras_writes_a_keras_file_the_converter_reads(tmp_path):
    """The .keras file of the Keras that installs with this TensorFlow, not of an older one."""
    model = small_network(40, 10, None)
    path = tmp_path / "today.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        assert json.loads(archive.read("metadata.json"))["keras_version"] == keras.__version__
    out = tmp_path / "today.tflite"
    result = run_convert(path, "--out", out)
    assert result.returncode == 0, result.stderr
    got = np.array([list(answer.values()) for answer in served(out, PICTURES[:6])])
    np.testing.assert_allclose(got, keras_probabilities(model, 40, PICTURES[:6]), atol=0.02)


@pytest.mark.parametrize(("activation", "suffix", "output"), [("sigmoid", ".keras", "sigmoid"),
                                                               (None, ".h5", "logit")])
def test_a_binary_model_with_one_output_answers_both_labels(tmp_path, activation, suffix, output):
    """Dense(1, sigmoid), as Keras lessons end a binary classifier, or Dense(1) trained from logits."""
    model = small_network(48, 1, None)
    weights, bias = model.layers[-1].get_weights()
    model.layers[-1].set_weights([weights * 30, bias])  # answers far from 0.5, centred on the pictures
    model.layers[-1].set_weights([weights * 30, bias - np.median(keras_scores(model, 48))])
    if activation:
        model.layers[-1].activation = keras.activations.get(activation)
    path = tmp_path / f"binary{suffix}"
    model.save(path)
    out = tmp_path / "binary.tflite"
    result = run_convert(path, "--out", out, "--labels", "curly,straight")
    assert result.returncode == 0, result.stderr
    assert f"one {output}" in result.stdout
    assert json.loads((tmp_path / "binary.json").read_text())["output"] == output
    keras_out = keras_scores(model, 48)[:, 0]
    second = keras_out if output == "sigmoid" else 1 / (1 + np.exp(-keras_out))
    answers = served(out)
    assert all(list(answer) == ["curly", "straight"] for answer in answers)
    got = np.array([[answer["curly"], answer["straight"]] for answer in answers])
    np.testing.assert_allclose(got, np.stack([1 - second, second], axis=1), atol=0.02)
    assert 0.1 < (second > 0.5).mean() < 0.9  # both answers occur: the check is not of a constant


def test_the_resize_a_model_was_trained_with_is_its_setting(tmp_path):
    keras.utils.set_random_seed(0)
    image = keras.Input((64, 64, 3))  # no pooling: every pixel counts, so the resize shows
    features = keras.layers.Flatten()(keras.layers.Conv2D(4, 3, strides=4, activation="relu")(image))
    model = keras.Model(image, keras.layers.Dense(10, kernel_initializer=keras.initializers.RandomNormal(
        stddev=0.3))(features))
    path = tmp_path / "pixels.h5"
    model.save(path)
    out = tmp_path / "nearest.tflite"
    result = run_convert(path, "--out", out, "--resize", "nearest")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "nearest.json").read_text())["resize"] == "nearest"
    got = np.array([list(answer.values()) for answer in served(out)])
    nearest, antialiased = (keras_probabilities(model, 64, resize=method) for method in ("nearest", "antialiased"))
    assert np.abs(got - nearest).max() <= 0.02
    assert np.abs(nearest - antialiased).max() > 0.02  # the setting matters: the other resize answers otherwise


def newer_keras_file(path):
    """A .keras file as a Keras newer than this one saves it: a later version, a layer this one lacks."""
    small_network(32, 10, None).save(path)
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    metadata = json.loads(files["metadata.json"])
    metadata["keras_version"] = "9.1.0"
    files["metadata.json"] = json.dumps(metadata).encode()
    files["config.json"] = files["config.json"].replace(b'"Dense"', b'"DenseFromTheFuture"')
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)


def regressor(path):
    """One output that is no classifier's: a Dense(1) whose answers are about 300."""
    model = small_network(32, 1, None)
    weights, bias = model.layers[-1].get_weights()
    model.layers[-1].set_weights([weights, bias + 300])
    model.save(path)


def test_a_savedmodel_folder_and_a_labels_file_are_taken(logits_h5, tmp_path):
    _, model = logits_h5
    folder = tmp_path / "saved"
    model.export(folder, format="tf_saved_model", verbose=False)
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"class {i}" for i in range(10)) + "\n")
    out = tmp_path / "saved.tflite"
    result = run_convert(folder, "--out", out, "--labels", labels, "--float32")
    assert result.returncode == 0, result.stderr
    answers = served(out, PICTURES[:4])
    assert list(answers[0]) == [f"class {i}" for i in range(10)]


def test_a_model_of_any_input_size_needs_and_takes_input_size(tmp_path):
    path = tmp_path / "open.keras"
    small_network(None, 10, None).save(path)
    refused = run_convert(path, "--out", tmp_path / "a.tflite")
    assert refused.returncode == 1 and "--input-size" in refused.stderr.splitlines()[-1]
    taken = run_convert(path, "--out", tmp_path / "b.tflite", "--input-size", "96")
    assert taken.returncode == 0, taken.stderr
    assert json.loads((tmp_path / "b.json").read_text())["input_size"] == 96


def test_the_courses_xception_converts_within_two_minutes(tmp_path):
    """Xception at 299 px with the course's head: an 83 MB .h5, as the course saved it."""
    keras.utils.set_random_seed(0)
    base = keras.applications.Xception(weights=None, include_top=False, input_shape=(299, 299, 3))
    image = keras.Input((299, 299, 3))
    features = keras.layers.GlobalAveragePooling2D()(base(image, training=False))
    path = tmp_path / "xception_v4_large_08_0.894.h5"
    keras.Model(image, keras.layers.Dense(10)(features)).save(path)
    started = time.monotonic()
    result = run_convert(path, "--out", tmp_path / "course.tflite", "--check-dir", ROOT / "tests" / "images")
    seconds = time.monotonic() - started
    print(f"\n{path.stat().st_size / 1e6:.0f} MB .h5 converted in {seconds:.0f} s: {result.stdout.strip()}")
    assert result.returncode == 0, result.stderr
    assert path.stat().st_size > 80e6 and seconds < 120


def two_inputs(path):
    first, second = keras.Input((32, 32, 3)), keras.Input((32, 32, 3))
    keras.Model([first, second], keras.layers.Dense(10)(keras.layers.Flatten()(first + second))).save(path)


def vector_input(path):
    features = keras.Input((10,))
    keras.Model(features, keras.layers.Dense(10)(features)).save(path)


def wide_input(path):
    image = keras.Input((32, 64, 3))
    keras.Model(image, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(image))).save(path)


def colour_ops(folder):
    """A SavedModel whose graph uses an image operation TF-Lite has no built-in for."""
    class Module(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 32, 32, 3], tf.float32)])
        def serve(self, images):
            return {"scores": tf.reduce_mean(tf.image.rgb_to_hsv(images), axis=[1, 2])}

    module = Module()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})


@pytest.mark.parametrize(("make", "name", "arguments", "message"), [
    (None, "missing.h5", [], "no such file or folder"),
    ("picture", "hat.jpg", [], "not a model this converter reads; give a .h5 or .keras file, a SavedModel folder"),
    ("text", "notes.h5", [], "not a model Keras can read"),
    (two_inputs, "two.keras", [], "2 inputs"),
    (vector_input, "vector.keras", [], "an image input (batch, height, width, 3) or (batch, 3, height, width)"),
    (wide_input, "wide.keras", [], "only square inputs are served"),
    ("logits", "logits.keras", ["--labels", "a,b"], "gives 10 scores but 2 labels were given"),
    ("logits 3", "three.keras", [], "gives 3 scores but 10 labels were given (the default is the ten clothing "
                                    "classes: give yours with --labels a,b, or ARGS=\"--labels a,b\" to make convert)"),
    ("binary", "binary.keras", ["--labels", "a,b,c"], "gives one score, which tells two classes apart, but 3 labels"),
    ("binary", "binary1.keras", ["--labels", "curly"], "but one label was given"),
    (regressor, "price.keras", ["--labels", "cheap,dear"], "not a binary classifier's logit"),
    (newer_keras_file, "future.keras", [], "saved by Keras 9.1.0, newer than this converter's Keras"),
    (colour_ops, "colours", ["--labels", "a,b,c"], "not TF-Lite built-ins: RGBToHSV"),
])
def test_what_cannot_be_served_is_refused_in_one_line_and_nothing_is_replaced(tmp_path, make, name, arguments,
                                                                              message):
    path = tmp_path / name
    if make == "picture":
        path.write_bytes(PICTURES[0].read_bytes())
    elif make == "text":
        path.write_text("not a model\n")
    elif make == "logits":
        small_network(32, 10, None).save(path)
    elif make == "logits 3":
        small_network(32, 3, None).save(path)
    elif make == "binary":
        small_network(32, 1, "sigmoid").save(path)
    elif make is not None:
        make(path)
    out = tmp_path / "clothing_model.tflite"
    out.write_bytes(b"the model served until now")
    (tmp_path / "clothing_model.json").write_text("{}")
    result = run_convert(path, "--out", out, *arguments)
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1 and last.startswith("convert: ") and message in last, result.stderr
    assert "Traceback" not in result.stderr
    assert out.read_bytes() == b"the model served until now"
    assert (tmp_path / "clothing_model.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".convert")) == []


def file_reading_saved_model(folder, marker):
    """A serving function that copies a file of the machine's beside the marker."""
    class Module(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 32, 32, 3], tf.float32)])
        def serve(self, images):
            tf.io.write_file(str(marker), tf.io.read_file(str(PICTURES[0])))
            return {"scores": tf.reduce_mean(images, axis=[1, 2])}

    module = Module()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})


def file_writing_initializer(folder, marker):
    """A resource whose initializer, which tf.saved_model.load runs, writes the marker."""
    class Marker(tf.saved_model.experimental.TrackableResource):
        def _create_resource(self):
            return tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[], shared_name="marker")

        def _initialize(self):
            tf.io.write_file(str(marker), "ran")
            return tf.raw_ops.AssignVariableOp(resource=self.resource_handle, value=1.0)

    class Module(tf.Module):
        def __init__(self):
            super().__init__()
            self.marker = Marker()

        @tf.function(input_signature=[tf.TensorSpec([1, 32, 32, 3], tf.float32)])
        def serve(self, images):
            return {"scores": tf.reduce_mean(images, axis=[1, 2])}

    module = Module()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})


@pytest.mark.parametrize(("make", "operation"), [(file_reading_saved_model, "ReadFile"),
                                                  (file_writing_initializer, "WriteFile")])
def test_a_saved_model_whose_graphs_touch_files_is_refused_before_tensorflow_loads_it(tmp_path, make, operation):
    """Read from saved_model.pb as data: neither make inspect nor make convert runs any of it."""
    folder, marker, out = tmp_path / "hostile", tmp_path / "marker", tmp_path / "out" / "model.tflite"
    make(folder, marker)
    for module, arguments in (("conversion.inspect_model", []), ("conversion.convert", ["--out", out])):
        result = run_convert(folder, *arguments, module=module)
        last = result.stderr.strip().splitlines()[-1]  # after TensorFlow's own start-up lines, if any
        assert result.returncode == 1 and f"holds the operation {operation}" in last, result.stderr
        assert last.startswith(("convert: ", "inspect: ")) and "Traceback" not in result.stderr
    assert not marker.exists() and not out.parent.exists()


def test_the_hostile_saved_models_do_run_code_when_tensorflow_loads_and_calls_them(tmp_path):
    """What the refusal above prevents: plain TensorFlow writes both markers."""
    for make in (file_reading_saved_model, file_writing_initializer):
        folder, marker = tmp_path / make.__name__, tmp_path / f"{make.__name__}.marker"
        make(folder, marker)
        tf.saved_model.load(str(folder)).signatures["serving_default"](tf.zeros([1, 32, 32, 3]))
        assert marker.exists(), make.__name__


def test_the_agreement_check_refuses_another_answer_or_distant_scores():
    reference = np.eye(4, dtype=np.float32)
    with pytest.raises(ConversionError, match="differs from Keras: another top answer on 4 clear pictures"):
        check_agreement(reference, np.roll(reference, 1, axis=1), "Keras")
    with pytest.raises(ConversionError, match="scores up to"):
        check_agreement(reference, reference * 0.95, "Keras")
    with pytest.raises(ConversionError):
        check_agreement(reference, reference * np.nan, "Keras")
    unclear = np.array([[0.5, 0.49, 0.01]])  # Keras itself hesitates: the top answer may swap
    assert check_agreement(unclear, unclear[:, [1, 0, 2]], "Keras") == pytest.approx(0.01)


def test_inspect_tells_each_keras_model_field_by_field(logits_h5, tmp_path):
    path, _ = logits_h5
    binary, five = tmp_path / "binary.keras", tmp_path / "five.keras"
    small_network(48, 1, "sigmoid").save(binary)
    small_network(None, 5, "softmax").save(five)
    fields, binary_fields, five_fields = inspected(path, binary, five)
    assert fields["model"] == "logits.h5"
    assert fields["format"] == f"Keras .h5, saved by Keras {keras.__version__} (read by Keras {keras.__version__})"
    assert fields["size"] == f"{path.stat().st_size / 1e3:.0f} KB"
    assert re.fullmatch(r"\w+, float32, \(batch, 64, 64, 3\): channels last, 64x64 pictures", fields["input"])
    assert re.fullmatch(r"\w+, float32, \(batch, 10\): 10 logits \(the graph ends in Dense\)", fields["output"])
    assert binary_fields["output"].endswith("(batch, 1): one sigmoid (the graph ends in sigmoid)")
    assert five_fields["input"].endswith("(batch, any, any, 3): channels last, pictures of any size")
    assert five_fields["output"].endswith("(batch, 5): 5 probabilities (the graph ends in softmax)")


def test_inspect_refuses_in_one_line(tmp_path):
    path = tmp_path / "notes.keras"
    path.write_text("not a model\n")
    result = run_convert(path, module="conversion.inspect_model")
    assert result.returncode == 1 and result.stderr.strip().splitlines()[-1].startswith("inspect: ")
    assert "Traceback" not in result.stderr


def test_a_keras_model_quantized_to_int8_answers_as_keras_does_within_the_int8_rule(logits_h5, tmp_path):
    from clothing.reference import read_reference, reference_path
    from conversion.quantize import QUANTIZED, agreement

    path, model = logits_h5
    out = tmp_path / "int8.tflite"
    result = run_convert(path, "--out", out, "--quantize", "int8", "--calibration", ROOT / "tests" / "images")
    assert result.returncode == 0, result.stderr
    assert "as float32, largest score difference" in result.stdout and "int8: the float model's top answer on" \
        in result.stdout
    served_scores = np.array([[answer[label] for label in CLASSES] for answer in served(out)])
    share, largest = agreement(keras_probabilities(model, 64), served_scores)
    assert share >= QUANTIZED.min_clear_agreement and largest <= QUANTIZED.max_difference
    assert np.allclose(served_scores.sum(1), 1, atol=1e-5)  # a float softmax: probabilities still add up
    assert read_reference(reference_path(out))["source"] == "this int8 TF-Lite file as served, checked against Keras"


def test_a_model_that_does_not_survive_int8_is_refused_in_one_line_and_nothing_is_written(tmp_path):
    """Calibrated on black pictures, the ranges fit no photo: a confident model's int8 answers differ, and the
    command says so."""
    from PIL import Image

    path = tmp_path / "logits.keras"
    model = small_network(64, len(CLASSES), None)
    head = model.layers[-1]
    head.kernel.assign(head.kernel * 40)  # confident answers, which a narrow range changes
    model.save(path)
    black = tmp_path / "black"
    black.mkdir()
    for shade in range(12):
        Image.new("RGB", (64, 64), (shade, shade, shade)).save(black / f"{shade}.png")
    out = tmp_path / "out" / "model.tflite"
    result = run_convert(path, "--out", out, "--quantize", "int8", "--calibration", black)
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1 and "the int8 model does not answer as the float one" in last, result.stderr
    assert not out.parent.exists() or not any(out.parent.iterdir())
    missing = run_convert(path, "--out", out, "--quantize", "int8")
    assert "--quantize int8 needs --calibration DIR" in missing.stderr.strip().splitlines()[-1]


def test_widening_float16_weights_to_float32_answers_exactly_as_the_float16_file(tmp_path):
    """The int8 model is quantized from the float network's float16 file (training/float): widening its weights
    must change no answer, or the quantization would start from another network."""
    from clothing.classifier import Classifier
    from conversion.quantize import float32_weights

    source = ROOT / "training" / "float" / "clothing_model.tflite"
    widened = tmp_path / "clothing_model.tflite"
    widened.write_bytes(float32_weights(source.read_bytes()))
    (tmp_path / "clothing_model.json").write_text(source.with_suffix(".json").read_text())
    assert widened.stat().st_size > 1.9 * source.stat().st_size  # every weight now four bytes, none left twice
    float16, float32 = Classifier(source), Classifier(widened)
    for picture in PICTURES[:5]:
        batch = float16.prepare(float16.decode(picture.read_bytes()))
        np.testing.assert_allclose(float32.scores(batch), float16.scores(batch), atol=1e-6)


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")  # ai-edge-quantizer's own
def test_a_model_with_int8_input_and_output_is_served_with_their_scale_and_zero_point(tmp_path):
    """TF-Lite's converter and ai-edge-quantizer's own static recipe write models that take and give int8; the
    function quantizes the prepared picture and dequantizes the scores as the tensors' parameters say."""
    from ai_edge_quantizer import quantizer, recipe

    from clothing.classifier import Classifier
    from conversion.quantize import QUANTIZED, agreement, float32_weights

    source = ROOT / "training" / "float" / "clothing_model.tflite"
    widened = tmp_path / "float32.tflite"
    widened.write_bytes(float32_weights(source.read_bytes()))
    float_model = Classifier(source)
    inputs = [float_model.prepare(float_model.decode(p.read_bytes())) for p in PICTURES]
    quantizing = quantizer.Quantizer(str(widened))
    quantizing.load_quantization_recipe(recipe.static_wi8_ai8())
    ranges = quantizing.calibrate({"serving_default": [{"args_0": batch} for batch in inputs]})
    int8 = tmp_path / "clothing_model.tflite"
    int8.write_bytes(quantizing.quantize(ranges).quantized_model)
    (tmp_path / "clothing_model.json").write_text(source.with_suffix(".json").read_text())
    served = Classifier(int8)
    assert served._input_type == np.int8  # what this test is about
    share, largest = agreement(np.stack([float_model.scores(b) for b in inputs]),
                               np.stack([served.scores(b) for b in inputs]))
    assert share >= QUANTIZED.min_clear_agreement and largest <= QUANTIZED.max_difference
