"""`make convert` on PyTorch networks saved as ``.pt2`` and exported to ``.onnx``, built here with random weights.

Each conversion runs as the command does, in a fresh process; serving runs
``lambda_handler`` in another, with MODEL_PATH pointing at the result; the
answers are compared with the framework the network came from.
"""

import json
import re

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
import torchvision
from onnx import TensorProto, helper

from clothing.images import InputPreparer, decode_image
from clothing.labels import CLASSES
from conversion.agreement import MAX_SCORE_DIFFERENCE
from conversion.tests.serving import PICTURES, run_convert, served

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # the exporters' notes on themselves
              pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning")]


class Unseen(torch.nn.Module):
    """A small channels-first network no converter has been tuned on: two convolutions, batch norm, a head."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, stride=2, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
            torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.Hardswish(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        )
        self.head = torch.nn.Linear(32, len(CLASSES))
        with torch.no_grad():  # confident answers, so that the check sees clear top classes
            self.head.weight.mul_(8)
            self.features[1].running_mean.uniform_(-0.2, 0.2)

    def forward(self, images):
        return self.head(self.features(images))


def channels_first_inputs(size: int, pictures=PICTURES) -> np.ndarray:
    """Pictures as the function prepares them with ``--scaling torch``, turned to (batch, 3, H, W)."""
    prepare = InputPreparer(size, "torch")
    batch = np.concatenate([prepare(decode_image(p.read_bytes(), size)) for p in pictures])
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def softmax(scores: np.ndarray) -> np.ndarray:
    exponentials = np.exp(scores - scores.max(axis=1, keepdims=True))
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def onnx_runtime_probabilities(path, size: int, pictures=PICTURES) -> np.ndarray:
    """ONNX Runtime's answers, one picture at a time as the exported model takes them."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = channels_first_inputs(size, pictures)
    return softmax(np.concatenate([session.run(None, {"image": inputs[i:i + 1]})[0] for i in range(len(inputs))]))


def served_probabilities(model_file, pictures=PICTURES) -> np.ndarray:
    answers = served(model_file, pictures)
    assert all(list(answer) == list(CLASSES) for answer in answers)
    return np.array([[answer[label] for label in CLASSES] for answer in answers])


def save_pt2(network: torch.nn.Module, size: int, path):
    torch.export.save(torch.export.export(network.eval(), (torch.zeros(1, 3, size, size),)), path)
    return path


def save_onnx(network: torch.nn.Module, size: int, path, open_sides: bool = False):
    axes = {"image": {0: "batch", 2: "height", 3: "width"}} if open_sides else None
    torch.onnx.export(network.eval(), (torch.zeros(1, 3, size, size),), path, dynamo=False,
                      input_names=["image"], output_names=["scores"], dynamic_axes=axes)
    return path


@pytest.fixture(scope="module")
def unseen():
    return Unseen().eval()


def test_a_pt2_network_serves_within_the_bound_of_pytorchs_probabilities(unseen, tmp_path):
    path = save_pt2(unseen, 96, tmp_path / "unseen.pt2")
    out = tmp_path / "unseen.tflite"
    result = run_convert(path, "--out", out, "--scaling", "torch")
    assert result.returncode == 0, result.stderr
    assert "checked against PyTorch" in result.stdout
    assert "channels-first input turned channels-last" in result.stdout
    with torch.no_grad():
        expected = softmax(unseen(torch.from_numpy(channels_first_inputs(96))).numpy())
    assert np.abs(served_probabilities(out) - expected).max() <= MAX_SCORE_DIFFERENCE
    settings = json.loads((tmp_path / "unseen.json").read_text())
    assert (settings["scaling"], settings["input_size"], settings["source"]) == ("torch", 96, "PyTorch")


def test_an_onnx_model_serves_within_the_bound_of_onnx_runtimes_probabilities(unseen, tmp_path):
    path = save_onnx(unseen, 96, tmp_path / "unseen.onnx")
    out = tmp_path / "unseen.tflite"
    result = run_convert(path, "--out", out, "--scaling", "torch", "--compare-runtimes")
    assert result.returncode == 0, result.stderr
    assert "checked against ONNX Runtime" in result.stdout
    for runtime in ("LiteRT", "ONNX Runtime"):
        [line] = [line for line in result.stdout.splitlines() if line.startswith(f"{runtime}: first answer")]
        assert re.search(r"first answer \d+ ms, loaded \d+ ms, peak memory \d+ MB", line), line
    expected = onnx_runtime_probabilities(path, 96)
    assert np.abs(served_probabilities(out) - expected).max() <= MAX_SCORE_DIFFERENCE


def test_the_courses_mobilenet_v2_architecture_goes_through_as_onnx(tmp_path):
    torch.manual_seed(0)
    network = torchvision.models.mobilenet_v2(weights=None, num_classes=len(CLASSES)).eval()
    path = save_onnx(network, 224, tmp_path / "clothing_classifier_mobilenet_v2_latest.onnx")
    out = tmp_path / "mobilenet.tflite"
    result = run_convert(path, "--out", out, "--scaling", "torch")
    assert result.returncode == 0, result.stderr
    pictures = PICTURES[::4]
    expected = onnx_runtime_probabilities(path, 224, pictures)
    assert np.abs(served_probabilities(out, pictures) - expected).max() <= MAX_SCORE_DIFFERENCE


def test_an_onnx_model_of_any_size_needs_and_takes_input_size(unseen, tmp_path):
    path = save_onnx(unseen, 96, tmp_path / "open.onnx", open_sides=True)
    refused = run_convert(path, "--out", tmp_path / "a.tflite", "--scaling", "torch")
    assert refused.returncode == 1 and "--input-size" in refused.stderr.splitlines()[-1]
    taken = run_convert(path, "--out", tmp_path / "b.tflite", "--scaling", "torch", "--input-size", "80")
    assert taken.returncode == 0, taken.stderr
    assert json.loads((tmp_path / "b.json").read_text())["input_size"] == 80


def pooling_model(path, first: onnx.NodeProto, input_shape: list[int]):
    """A small ONNX graph written by hand: ``first`` on the picture, then a pool and a ten-class head."""
    head = helper.make_tensor("head", TensorProto.FLOAT, [3, len(CLASSES)],
                              (8 * np.random.default_rng(1).normal(size=3 * len(CLASSES))).tolist())
    graph = helper.make_graph(
        [first, helper.make_node("GlobalAveragePool", ["first"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"]),
         helper.make_node("MatMul", ["flat", "head"], ["scores"])],
        "pooling", [helper.make_tensor_value_info("image", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, len(CLASSES)])], [head])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def shrinking_model(path):
    """An ONNX model ONNX Runtime runs but whose Shrink operator onnx2torch cannot rebuild."""
    pooling_model(path, helper.make_node("Shrink", ["image"], ["first"], lambd=0.5), [1, 3, 32, 32])


def channels_last_model(path):
    """An ONNX model taking (1, H, W, 3), as tf2onnx exports a Keras model: it transposes, then pools."""
    pooling_model(path, helper.make_node("Transpose", ["image"], ["first"], perm=[0, 3, 1, 2]), [1, 48, 48, 3])


def test_a_channels_last_onnx_model_as_tf2onnx_writes_is_taken_as_it_is(tmp_path):
    path = tmp_path / "clothing-model-new.onnx"
    channels_last_model(path)
    out = tmp_path / "keras.tflite"
    result = run_convert(path, "--out", out)  # Keras's models are scaled as xception, the default
    assert result.returncode == 0, result.stderr
    assert "channels-first" not in result.stdout
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    prepare = InputPreparer(48)
    expected = softmax(np.concatenate([session.run(None, {"image": prepare(decode_image(p.read_bytes(), 48))})[0]
                                       for p in PICTURES]))
    assert np.abs(served_probabilities(out) - expected).max() <= MAX_SCORE_DIFFERENCE


@pytest.mark.parametrize(("make", "name", "message"), [
    ("state dict", "weights.pt", "holds weights without the network's code; save the network with its code"),
    ("text", "notes.onnx", "not a model ONNX Runtime can read"),
    ("text", "notes.pt2", "not a network torch.export.save wrote"),
    (shrinking_model, "shrink.onnx", "uses operators the converter lacks: Shrink"),
])
def test_what_cannot_be_served_is_refused_in_one_line_and_nothing_is_written(unseen, tmp_path, make, name,
                                                                              message):
    path = tmp_path / name
    if make == "state dict":
        torch.save(unseen.state_dict(), path)
    elif make == "text":
        path.write_text("not a model\n")
    else:
        make(path)
    out = tmp_path / "clothing_model.tflite"
    result = run_convert(path, "--out", out, "--scaling", "torch")
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1 and last.startswith("convert: ") and message in last, result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
