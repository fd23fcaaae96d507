"""`make convert` and `make inspect` on models PyTorch writes today: ONNX from torch.onnx.export, and .pt2.

Runs in the training environment, whose torch makes the models with random
weights. Each ONNX model converts as `make convert` runs it, in the conversion
environment (which has no torch); a ``.pt2`` converts here, as `make convert`
runs it too. The function serves each result from the serving environment, and
its answers are compared with ONNX Runtime's or PyTorch's.
"""

import base64
import io
import json
import re
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from onnx import TensorProto, helper

from clothing.decoding.decode import decode_image
from clothing.model_input import InputPreparer
from clothing.reference import differences, read_reference, reference_path
from conversion.agreement import MAX_SCORE_DIFFERENCE
from conversion.convert import CLASSES
from conversion.tests.serving import PICTURES, ROOT, inspected, run_convert, served

pytestmark = [pytest.mark.onnx,
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # the exporters' notes on themselves
              pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning")]


class Unseen(torch.nn.Module):
    """A small channels-first network no converter has been tuned on: convolutions, batch norm, a head."""

    def __init__(self, outputs: int = len(CLASSES), sigmoid: bool = False):
        super().__init__()
        torch.manual_seed(0)
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, stride=2, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
            torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.Hardswish(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        )
        self.head = torch.nn.Linear(32, outputs)
        self.sigmoid = sigmoid
        with torch.no_grad():  # confident answers, so that the check sees clear top classes
            self.head.weight.mul_(8)
            self.features[1].running_mean.uniform_(-0.2, 0.2)

    def forward(self, images):
        scores = self.head(self.features(images))
        return torch.sigmoid(scores) if self.sigmoid else scores


class InvertedResidual(torch.nn.Module):
    """MobileNetV2's block, as the course's ONNX lessons use it: expand, depthwise, project, add."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.stem = torch.nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.block = torch.nn.Sequential(
            torch.nn.Conv2d(16, 64, 1), torch.nn.BatchNorm2d(64), torch.nn.ReLU6(),
            torch.nn.Conv2d(64, 64, 3, padding=1, groups=64), torch.nn.BatchNorm2d(64), torch.nn.ReLU6(),
            torch.nn.Conv2d(64, 16, 1), torch.nn.BatchNorm2d(16))
        self.head = torch.nn.Linear(16, len(CLASSES))
        with torch.no_grad():
            self.head.weight.mul_(20)

    def forward(self, images):
        x = self.stem(images)
        return self.head((x + self.block(x)).mean(dim=(2, 3)))


def channels_first_inputs(size: int, pictures=PICTURES, resize: str = "antialiased") -> np.ndarray:
    """Pictures as the function prepares them with ``--scaling torch``, turned to (batch, 3, H, W)."""
    prepare = InputPreparer(size, "torch", resize)
    batch = np.concatenate([prepare.from_bytes(p.read_bytes()) for p in pictures])
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def softmax(scores: np.ndarray) -> np.ndarray:
    exponentials = np.exp(scores - scores.max(axis=1, keepdims=True))
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def onnx_runtime_scores(path, size: int, pictures=PICTURES, resize: str = "antialiased") -> np.ndarray:
    """ONNX Runtime's own outputs, one picture at a time as the exported model takes them."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    inputs = channels_first_inputs(size, pictures, resize)
    return np.concatenate([session.run(None, {name: inputs[i:i + 1]})[0] for i in range(len(inputs))])


def served_scores(model_file, labels=CLASSES, pictures=PICTURES) -> np.ndarray:
    answers = served(model_file, pictures)
    assert all(list(answer) == list(labels) for answer in answers), answers[0]
    return np.array([[answer[label] for label in labels] for answer in answers])


def save_onnx(network: torch.nn.Module, size: int, path, dynamo: bool = True, opset: int | None = None,
              open_sides: bool = False, names: tuple[str, str] = ("image", "scores")):
    """As a user exports today: torch.onnx.export, by default its dynamo exporter."""
    axes = {names[0]: {0: "batch", 2: "height", 3: "width"}} if open_sides else {names[0]: {0: "batch"}}
    torch.onnx.export(network.eval(), (torch.zeros(1, 3, size, size),), path, dynamo=dynamo, opset_version=opset,
                      input_names=[names[0]], output_names=[names[1]], dynamic_axes=axes)
    return path


def save_pt2(network: torch.nn.Module, size: int, path):
    torch.export.save(torch.export.export(network.eval(), (torch.zeros(1, 3, size, size),)), path)
    return path


def opset_of(path) -> int:
    return max(o.version for o in onnx.load(path, load_external_data=False).opset_import if o.domain in ("", "ai.onnx"))


@pytest.mark.parametrize(("dynamo", "opset"), [(False, 13), (False, 17), (True, 18), (True, 20), (True, 21)])
def test_onnx_from_either_exporter_at_each_opset_serves_as_onnx_runtime_answers(tmp_path, dynamo, opset):
    path = save_onnx(Unseen(), 96, tmp_path / "unseen.onnx", dynamo=dynamo, opset=opset)
    assert opset_of(path) == opset
    out = tmp_path / "unseen.tflite"
    result = run_convert(path, "--out", out, "--scaling", "torch")
    assert result.returncode == 0, result.stderr
    assert "checked against ONNX Runtime" in result.stdout
    assert "channels-first input turned channels-last" in result.stdout and "softmax added" in result.stdout
    expected = softmax(onnx_runtime_scores(path, 96))
    assert np.abs(served_scores(out) - expected).max() <= MAX_SCORE_DIFFERENCE
    settings = json.loads((tmp_path / "unseen.json").read_text())
    assert (settings["scaling"], settings["input_size"], settings["source"], settings["output"]) == \
        ("torch", 96, "ONNX Runtime", "probabilities")


def homework_model(folder):
    """The course's 2025 homework: a one-logit CNN at 200 px, its weights in hair_classifier_v1.onnx.data."""
    network = Unseen(outputs=1).eval()
    with torch.no_grad():  # centred on the test pictures, so that both labels come out
        network.head.bias -= network(torch.from_numpy(channels_first_inputs(200, resize="nearest"))).median()
    exported = save_onnx(network, 200, folder / "exported.onnx", names=("input", "output"))
    model = onnx.load(exported)
    path = folder / "hair_classifier_v1.onnx"
    onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="hair_classifier_v1.onnx.data")  # weights of 1 KB and more, as onnx does
    return path


def test_the_homework_model_with_external_data_answers_both_labels_as_its_logit_says(tmp_path):
    path = homework_model(tmp_path)
    data = tmp_path / "hair_classifier_v1.onnx.data"
    before = {p: p.read_bytes() for p in (path, data)}
    out = tmp_path / "hair.tflite"
    result = run_convert(path, "--out", out, "--labels", "curly,straight", "--scaling", "torch", "--resize", "nearest")
    assert result.returncode == 0, result.stderr
    assert "one logit: answered as two probabilities through a sigmoid" in result.stdout
    assert {p: p.read_bytes() for p in (path, data)} == before  # the user's files are left as they were
    settings = json.loads((tmp_path / "hair.json").read_text())
    assert (settings["output"], settings["resize"], settings["labels"]) == ("logit", "nearest", ["curly", "straight"])
    straight = 1 / (1 + np.exp(-onnx_runtime_scores(path, 200, resize="nearest")[:, 0]))
    got = served_scores(out, ("curly", "straight"))
    np.testing.assert_allclose(got, np.stack([1 - straight, straight], axis=1), atol=MAX_SCORE_DIFFERENCE)
    assert 0.1 < (straight > 0.5).mean() < 0.9  # both answers occur


HOMEWORK_SIDES = (200, 400, 533, 800, 1600)  # the picture's longer side: below, at and past twice the input


def homework_pictures(folder) -> list[Path]:
    """Clothing photos as JPEG files of several sizes, encoded by libjpeg-turbo's cjpeg where it is installed
    (another encoder than the function's Pillow), by Pillow otherwise."""
    import shutil
    import subprocess

    from PIL import Image

    made = []
    for n, (picture, side) in enumerate(zip(PICTURES, HOMEWORK_SIDES * 2, strict=False)):
        img = Image.open(picture).convert("RGB")
        img = img.resize((side * img.width // max(img.size), side * img.height // max(img.size)), Image.LANCZOS)
        path = folder / f"{n}-{side}.jpg"
        if shutil.which("cjpeg"):
            img.save(folder / "source.ppm")
            path.write_bytes(subprocess.run(["cjpeg", "-quality", "90", str(folder / "source.ppm")],
                                            capture_output=True, check=True).stdout)
        else:
            img.save(path, quality=90)
        made.append(path)
    return made


def homework_answers(path, pictures: list[Path]) -> np.ndarray:
    """The course's 2025 homework code on each original file: PIL opens it, converts to RGB, resizes it to 200
    with NEAREST, scales it by ImageNet's mean and deviation, and ONNX Runtime answers; a sigmoid of the logit."""
    from PIL import Image

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    logits = []
    for picture in pictures:
        img = Image.open(picture).convert("RGB").resize((200, 200), Image.NEAREST)
        x = ((np.array(img, dtype=np.float32) / 255 - mean) / std).astype(np.float32)
        logits.append(session.run(None, {"input": x.transpose(2, 0, 1)[None]})[0][0, 0])
    return 1 / (1 + np.exp(-np.array(logits)))


def test_the_homework_model_answers_as_the_homeworks_own_code_on_the_original_files(tmp_path):
    """A nearest resize picks single pixels, so a picture decoded at reduced scale (JPEG's draft) answers
    otherwise: the function decodes such a model's pictures at full size, as the homework's PIL does."""
    path = homework_model(tmp_path)
    out = tmp_path / "hair.tflite"
    result = run_convert(path, "--out", out, "--labels", "curly,straight", "--scaling", "torch", "--resize", "nearest")
    assert result.returncode == 0, result.stderr
    pictures = homework_pictures(tmp_path)
    got = served_scores(out, ("curly", "straight"), pictures)[:, 1]
    expected = homework_answers(path, pictures)
    assert np.abs(got - expected).max() <= 0.002, np.abs(got - expected).round(4).tolist()


def test_the_reference_answers_beside_the_model_are_the_frameworks_and_the_served_model_meets_them(tmp_path):
    """What a deploy's pre-traffic check compares with (clothing.reference): ONNX Runtime's own answers."""
    path = homework_model(tmp_path)
    out = tmp_path / "hair.tflite"
    result = run_convert(path, "--out", out, "--labels", "curly,straight", "--scaling", "torch", "--resize", "nearest")
    assert result.returncode == 0, result.stderr
    reference = read_reference(reference_path(out))
    assert (reference["source"], len(reference["pictures"])) == ("ONNX Runtime", 10)
    kept = [tmp_path / f"kept-{number}.jpg" for number in range(10)]
    for picture, file in zip(reference["pictures"], kept, strict=True):
        file.write_bytes(base64.b64decode(picture["image"]))
    straight = 1 / (1 + np.exp(-onnx_runtime_scores(path, 200, kept, resize="nearest")[:, 0]))
    expected = np.array([[picture["scores"]["curly"], picture["scores"]["straight"]]
                         for picture in reference["pictures"]])
    np.testing.assert_allclose(expected, np.stack([1 - straight, straight], axis=1), atol=1e-5)
    for picture, answer in zip(reference["pictures"], served_scores(out, ("curly", "straight"), kept), strict=True):
        assert differences(picture["scores"], {"curly": answer[0], "straight": answer[1]}) is None


def test_a_binary_network_that_ends_in_a_sigmoid_answers_its_own_probability(tmp_path):
    path = save_onnx(Unseen(outputs=1, sigmoid=True), 96, tmp_path / "sigmoid.onnx", dynamo=False)
    out = tmp_path / "sigmoid.tflite"
    result = run_convert(path, "--out", out, "--labels", "no,yes", "--scaling", "torch")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "sigmoid.json").read_text())["output"] == "sigmoid"
    yes = onnx_runtime_scores(path, 96)[:, 0]
    np.testing.assert_allclose(served_scores(out, ("no", "yes")), np.stack([1 - yes, yes], axis=1),
                               atol=MAX_SCORE_DIFFERENCE)


def test_the_mobilenet_block_goes_through_as_onnx(tmp_path):
    path = save_onnx(InvertedResidual(), 128, tmp_path / "clothing_classifier_mobilenet_v2_latest.onnx")
    out = tmp_path / "mobilenet.tflite"
    result = run_convert(path, "--out", out, "--scaling", "torch", "--compare-runtimes")
    assert result.returncode == 0, result.stderr
    for runtime in ("LiteRT", "ONNX Runtime"):
        [line] = [line for line in result.stdout.splitlines() if line.startswith(f"{runtime}: first answer")]
        assert re.search(r"first answer \d+ ms, loaded \d+ ms, peak memory \d+ MB", line), line
    expected = softmax(onnx_runtime_scores(path, 128))
    assert np.abs(served_scores(out) - expected).max() <= MAX_SCORE_DIFFERENCE


def test_an_onnx_model_of_any_size_needs_and_takes_input_size(tmp_path):
    path = save_onnx(Unseen(), 96, tmp_path / "open.onnx", dynamo=False, open_sides=True)
    refused = run_convert(path, "--out", tmp_path / "a.tflite", "--scaling", "torch")
    assert refused.returncode == 1 and "--input-size" in refused.stderr.splitlines()[-1]
    taken = run_convert(path, "--out", tmp_path / "b.tflite", "--scaling", "torch", "--input-size", "80")
    assert taken.returncode == 0, taken.stderr
    assert json.loads((tmp_path / "b.json").read_text())["input_size"] == 80


def pooling_model(path, first: onnx.NodeProto, input_shape: list[int], opset: int = 17):
    """A small ONNX graph written by hand: ``first`` on the picture, then a pool and a ten-class head."""
    head = helper.make_tensor("head", TensorProto.FLOAT, [3, len(CLASSES)],
                              (8 * np.random.default_rng(1).normal(size=3 * len(CLASSES))).tolist())
    graph = helper.make_graph(
        [first, helper.make_node("GlobalAveragePool", ["first"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"]),
         helper.make_node("MatMul", ["flat", "head"], ["scores"])],
        "pooling", [helper.make_tensor_value_info("image", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, len(CLASSES)])], [head])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


def channels_last_model(path):
    """An ONNX model taking (1, H, W, 3), as tf2onnx exports a Keras model: it transposes, then pools."""
    pooling_model(path, helper.make_node("Transpose", ["image"], ["first"], perm=[0, 3, 1, 2]), [1, 48, 48, 3])


def future_opset_model(path):
    pooling_model(path, helper.make_node("Identity", ["image"], ["first"]), [1, 3, 32, 32], opset=99)


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
    assert np.abs(served_scores(out) - expected).max() <= MAX_SCORE_DIFFERENCE


@pytest.mark.parametrize("sigmoid", [False, True])
def test_a_pt2_network_converts_where_torch_is_and_serves_as_pytorch_answers(tmp_path, sigmoid):
    network = Unseen(outputs=1 if sigmoid else len(CLASSES), sigmoid=sigmoid).eval()
    path = save_pt2(network, 96, tmp_path / "unseen.pt2")
    out = tmp_path / "unseen.tflite"
    labels = ("no", "yes") if sigmoid else CLASSES
    result = run_convert(path, "--out", out, "--scaling", "torch", "--labels", ",".join(labels),
                         python=sys.executable)
    assert result.returncode == 0, result.stderr
    assert "checked against PyTorch" in result.stdout
    with torch.no_grad():
        raw = network(torch.from_numpy(channels_first_inputs(96))).numpy()
    expected = np.stack([1 - raw[:, 0], raw[:, 0]], axis=1) if sigmoid else softmax(raw)
    assert np.abs(served_scores(out, labels) - expected).max() <= MAX_SCORE_DIFFERENCE
    assert json.loads((tmp_path / "unseen.json").read_text())["output"] == ("sigmoid" if sigmoid else "probabilities")


def truncated_data(path):
    homework_model(path.parent)
    data = path.parent / "hair_classifier_v1.onnx.data"
    data.write_bytes(data.read_bytes()[:1000])


def missing_data(path):
    homework_model(path.parent)
    (path.parent / "hair_classifier_v1.onnx.data").unlink()


@pytest.mark.parametrize(("make", "name", "arguments", "message"), [
    ("state dict", "weights.pt", [], "holds weights without the network's code; save the network with its code"),
    ("text", "notes.onnx", [], "not an ONNX model"),
    ("text", "notes.pt2", [], "not a network torch.export.save wrote"),
    (missing_data, "hair_classifier_v1.onnx", ["--labels", "curly,straight"],
     "its weights are in hair_classifier_v1.onnx.data beside it, which is missing"),
    (truncated_data, "hair_classifier_v1.onnx", ["--labels", "curly,straight"],
     "hair_classifier_v1.onnx.data is cut short: 1000 bytes"),
    (lambda path: homework_model(path.parent), "hair_classifier_v1.onnx", ["--labels", "curly,straight,wavy"],
     "gives one score, which tells two classes apart, but 3 labels were given"),
    (future_opset_model, "future.onnx", [], "uses ONNX opset 99 (IR version"),
])
def test_what_cannot_be_served_is_refused_in_one_line_and_nothing_is_written(tmp_path, make, name, arguments,
                                                                              message):
    path = tmp_path / name
    if make == "state dict":
        torch.save(Unseen().state_dict(), path)
    elif make == "text":
        path.write_text("not a model\n")
    else:
        make(path)
    out = tmp_path / "clothing_model.tflite"
    python = sys.executable if path.suffix in (".pt", ".pt2") else None
    result = run_convert(path, "--out", out, "--scaling", "torch", *arguments, python=python)
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1 and last.startswith("convert: ") and message in last, result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() and not Path(reference_path(out)).exists()


def test_inspect_tells_the_homework_model_field_by_field(tmp_path):
    path = homework_model(tmp_path)
    [fields] = inspected(path)
    assert fields["model"] == "hair_classifier_v1.onnx"
    assert re.fullmatch(r"ONNX, opset (18|19|20|21), IR version \d+, written by pytorch 2\.13\.\d+\S*",
                        fields["format"])
    total = path.stat().st_size + (tmp_path / "hair_classifier_v1.onnx.data").stat().st_size
    assert fields["size"].startswith(f"{total / 1e3:.0f} KB (hair_classifier_v1.onnx ")
    assert "hair_classifier_v1.onnx.data" in fields["size"]
    assert fields["input"] == "input, float32, (batch, 3, 200, 200): channels first, 200x200 pictures"
    assert fields["output"] == "output, float32, (batch, 1): one logit (the graph ends in Gemm)"
    page = (ROOT / "docs" / "models.md").read_text()
    sample = page[page.index("model: hair_classifier_v1.onnx"):].split("```")[0].strip().splitlines()
    def masked(line: str) -> str:  # sizes and versions differ between the README's model and this one
        return re.sub(r"\d+(\.\d+)?", "N", re.sub(r"\d+(\.\d+)? [KM]B", "size", line))

    assert [masked(line) for line in sample] == [masked(f"{k}: {v}") for k, v in fields.items()]


def test_inspect_tells_a_sigmoid_a_softmax_and_a_pt2(tmp_path):
    sigmoid = save_onnx(Unseen(outputs=1, sigmoid=True), 64, tmp_path / "s.onnx", dynamo=False)
    assert inspected(sigmoid)[0]["output"] == "scores, float32, (batch, 1): one sigmoid (the graph ends in Sigmoid)"
    channels_last_model(tmp_path / "last.onnx")
    [fields] = inspected(tmp_path / "last.onnx")
    assert fields["input"] == "image, float32, (1, 48, 48, 3): channels last, 48x48 pictures"
    assert fields["output"] == "scores, float32, (1, 10): 10 logits (the graph ends in MatMul)"
    [pt2] = inspected(save_pt2(Unseen(), 96, tmp_path / "u.pt2"), python=sys.executable)
    assert pt2["format"] == f"PyTorch exported program (.pt2), read by torch {torch.__version__}"
    assert pt2["input"] == "images, float32, (1, 3, 96, 96): channels first, 96x96 pictures"
    assert pt2["output"].endswith("(1, 10): 10 logits (the graph ends in linear)")


class Payload:
    """What an attacker pickles: loading it writes the marker file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('ran')",)


def pickled(payload) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def hostile_pt2(folder: Path, where: str) -> tuple[Path, Path]:
    """A harmless torch.export.save archive rewritten as an attacker would: a weight marked use_pickle, or example
    inputs that only torch's unsafe fallback loads. Plain torch.export.load runs either."""
    harmless = save_pt2(Unseen(), 32, folder / "harmless.pt2")
    marker, path = folder / f"ran-{where}", folder / f"{where}.pt2"

    def changed(name: str, data: bytes) -> bytes:
        if where == "weight" and name.endswith("_weights_config.json"):
            config = json.loads(data)
            next(iter(config["config"].values()))["use_pickle"] = True
            return json.dumps(config).encode()
        if where == "weight" and name.endswith("data/weights/weight_0"):
            return pickled(Payload(marker))
        if where == "inputs" and "/data/sample_inputs/" in name:
            return pickled(Payload(marker))
        return data

    with zipfile.ZipFile(harmless) as source, zipfile.ZipFile(path, "w") as rewritten:
        for info in source.infolist():
            rewritten.writestr(info, changed(info.filename, source.read(info.filename)))
    return path, marker


@pytest.mark.parametrize(("where", "said"), [("weight", "is stored as a pickled object"),
                                              ("inputs", "example inputs")])
def test_a_pt2_that_would_run_code_is_refused_unread_by_inspect_and_convert(tmp_path, where, said):
    path, marker = hostile_pt2(tmp_path, where)
    out = tmp_path / "out.tflite"
    for module, arguments in (("conversion.inspect_model", []), ("conversion.convert", ["--out", out])):
        result = run_convert(path, *arguments, python=sys.executable, module=module)
        assert result.returncode != 0 and said in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not marker.exists()  # no code of the file ran
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["harmless.pt2", path.name])  # nothing written


def onnx_with_outside_constant(folder: Path) -> Path:
    """An ONNX graph whose Constant node keeps its tensor in a file outside the model's folder."""
    value = helper.make_tensor("c", TensorProto.FLOAT, [1], [0.0])
    value.data_location = TensorProto.EXTERNAL
    value.ClearField("float_data")
    for key, entry in (("location", "../secret.bin"), ("offset", "0"), ("length", "4")):
        value.external_data.add(key=key, value=entry)
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["c"], value=value), helper.make_node("Add", ["image", "c"], ["scores"])],
        "outside", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 3, 8, 8])])
    folder.mkdir()
    path = folder / "outside.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_external_data_of_a_constant_node_or_through_a_link_out_of_the_folder_is_refused(tmp_path):
    constant = onnx_with_outside_constant(tmp_path / "constant")
    (tmp_path / "secret.bin").write_bytes(b"\0" * 4)
    linked_folder = tmp_path / "linked"
    linked_folder.mkdir()
    linked = homework_model(linked_folder)
    data = linked_folder / "hair_classifier_v1.onnx.data"
    data.rename(tmp_path / "elsewhere.data")
    data.symlink_to(tmp_path / "elsewhere.data")
    for path, said in ((constant, "'../secret.bin' as its file"), (linked, "is a link out of the model's folder")):
        result = run_convert(path, module="conversion.inspect_model")
        assert result.returncode != 0 and said in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_an_onnx_model_quantized_to_int8_answers_as_onnx_runtime_does_within_the_int8_rule(tmp_path):
    from conversion.quantize import QUANTIZED, agreement

    path = save_onnx(Unseen(), 96, tmp_path / "unseen.onnx")
    out = tmp_path / "unseen.tflite"
    result = run_convert(path, "--out", out, "--scaling", "torch", "--quantize", "int8",
                         "--calibration", ROOT / "tests" / "images")
    assert result.returncode == 0, result.stderr
    assert "int8: the float model's top answer on" in result.stdout
    share, largest = agreement(softmax(onnx_runtime_scores(path, 96)), served_scores(out))
    assert share >= QUANTIZED.min_clear_agreement and largest <= QUANTIZED.max_difference
