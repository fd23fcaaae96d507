"""The real model's behaviour on real pictures from the validation split: two per class.

The pictures (``tests/images/<class>-1.jpg`` and ``-2.jpg``) are the first two of
each class of the validation split by file name, a rule fixed before looking at
any answer. The floors were set with them, before the model's answers were seen:
about the shipped model's validation accuracy less what 20 pictures can vary by.
"""

import io
import json
from pathlib import Path

import pytest
from PIL import Image

import lambda_function
from clothing.classifier import Classifier, metadata_path
from clothing.settings import Settings
from tests.conftest import LABELS, image_files, label_of

PICTURES = image_files()
ACCURACY_FLOOR = 0.80  # of the 20 pictures, the model gets at least 16 right
KEPT_FLOOR = 0.85  # and at least 17 of its 20 answers stay the same when the file is re-encoded or halved


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return lambda_function.service.classifier


def predict(classifier: Classifier, data: bytes) -> str:
    scores = classifier.classify_bytes(data)
    return max(scores, key=scores.get)


def test_every_class_has_pictures():
    assert sorted({label_of(p) for p in PICTURES}) == sorted(LABELS)


def test_metadata_matches_the_model_and_the_contract(classifier):
    metadata = json.loads(Path(metadata_path(Settings().model_path)).read_text())
    assert tuple(metadata["labels"]) == classifier.labels  # in the model's output order, as the contract lists them
    assert metadata["scaling"] == "xception"
    assert classifier.input_size == metadata["input_size"]


def predictions(classifier: Classifier, change=lambda data: data) -> list[bool]:
    """For each picture, whether the model gives its label once ``change`` has been applied to the file."""
    return [predict(classifier, change(p.read_bytes())) == label_of(p) for p in PICTURES]


def reencoded(data: bytes) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).save(out, "JPEG", quality=30)
    return out.getvalue()


def halved(data: bytes) -> bytes:
    img = Image.open(io.BytesIO(data))
    out = io.BytesIO()
    img.resize((img.width // 2, img.height // 2), Image.Resampling.LANCZOS).save(out, "JPEG", quality=90)
    return out.getvalue()


def test_accuracy_on_the_test_pictures_is_at_least_its_floor(classifier):
    right = predictions(classifier)
    assert sum(right) / len(right) >= ACCURACY_FLOOR, [p.stem for p, ok in zip(PICTURES, right, strict=True)
                                                        if not ok]


@pytest.mark.parametrize("change", [reencoded, halved], ids=["jpeg-quality-30", "halved"])
def test_most_answers_survive_reencoding_and_halving(classifier, change):
    before, after = predictions(classifier), predictions(classifier, change)
    kept = sum(a == b for a, b in zip(before, after, strict=True)) / len(PICTURES)
    assert kept >= KEPT_FLOOR


def test_scores_are_probabilities(classifier):
    scores = classifier.classify_bytes(PICTURES[0].read_bytes())
    assert all(0 <= s <= 1 for s in scores.values())
    assert sum(scores.values()) == pytest.approx(1, abs=1e-3)


def test_a_wrong_metadata_file_is_refused(tmp_path):
    model = tmp_path / "model.tflite"
    model.write_bytes(Path(Settings().model_path).read_bytes())
    metadata = json.loads(Path(metadata_path(Settings().model_path)).read_text())
    Path(metadata_path(model)).write_text(json.dumps({**metadata, "labels": metadata["labels"][:5]}))
    with pytest.raises(ValueError, match="5 labels"):
        Classifier(model)


def test_with_flip_in_its_settings_a_picture_is_answered_as_the_mean_with_its_mirror(classifier, tmp_path):
    """Horizontal-flip averaging, a setting of the model's own: each score the mean of the picture's and its
    mirror image's, so the answer is the same for a picture and its mirror."""
    model = Path(lambda_function.service.settings.model_path)
    settings = json.loads(Path(metadata_path(model)).read_text())
    flipped = tmp_path / "flipped.tflite"
    flipped.write_bytes(model.read_bytes())
    Path(metadata_path(flipped)).write_text(json.dumps({**settings, "flip": True}))
    averaged = Classifier(flipped, 1)
    for path in PICTURES[:4]:
        batch = classifier.prepare(classifier.decode(path.read_bytes()))
        mirror = batch[:, :, ::-1].copy()
        expected = (classifier.scores(batch) + classifier.scores(mirror)) / 2
        assert averaged.scores(batch) == pytest.approx(expected, abs=1e-6)
        assert averaged.scores(mirror) == pytest.approx(expected, abs=1e-6)
    assert not classifier.flip  # the shipped model answers with one invoke
