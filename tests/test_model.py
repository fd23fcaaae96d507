"""The real model's behaviour on real pictures from the validation split: two per class."""

import io
import json
from pathlib import Path

import pytest
from PIL import Image

import lambda_function
from clothing.classifier import Classifier, metadata_path
from clothing.images import decode_image
from clothing.labels import CLASSES
from clothing.settings import Settings
from tests.conftest import image_files, label_of

PICTURES = image_files()


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return lambda_function.classifier


def predict(classifier: Classifier, data: bytes) -> str:
    scores = classifier.classify(decode_image(data, classifier.input_size))
    return max(scores, key=scores.get)


def test_every_class_has_pictures():
    assert sorted({label_of(p) for p in PICTURES}) == sorted(CLASSES)


def test_metadata_matches_the_model_and_the_contract(classifier):
    metadata = json.loads(Path(metadata_path(Settings().model_path)).read_text())
    assert tuple(metadata["labels"]) == CLASSES == classifier.labels
    assert metadata["scaling"] == "xception"
    assert classifier.input_size == metadata["input_size"]


@pytest.mark.parametrize("picture", PICTURES, ids=lambda p: p.stem)
def test_pictures_get_their_label(classifier, picture):
    assert predict(classifier, picture.read_bytes()) == label_of(picture)


@pytest.mark.parametrize("picture", PICTURES, ids=lambda p: p.stem)
def test_reencoding_at_low_quality_keeps_the_label(classifier, picture):
    out = io.BytesIO()
    Image.open(picture).save(out, "JPEG", quality=30)
    assert predict(classifier, out.getvalue()) == label_of(picture)


@pytest.mark.parametrize("picture", PICTURES, ids=lambda p: p.stem)
def test_halving_the_size_keeps_the_label(classifier, picture):
    img = Image.open(picture)
    out = io.BytesIO()
    img.resize((img.width // 2, img.height // 2), Image.Resampling.LANCZOS).save(out, "JPEG", quality=90)
    assert predict(classifier, out.getvalue()) == label_of(picture)


def test_scores_are_probabilities(classifier):
    scores = classifier.classify(decode_image(PICTURES[0].read_bytes(), classifier.input_size))
    assert all(0 <= s <= 1 for s in scores.values())
    assert sum(scores.values()) == pytest.approx(1, abs=1e-3)


def test_a_wrong_metadata_file_is_refused(tmp_path):
    model = tmp_path / "model.tflite"
    model.write_bytes(Path(Settings().model_path).read_bytes())
    metadata = json.loads(Path(metadata_path(Settings().model_path)).read_text())
    Path(metadata_path(model)).write_text(json.dumps({**metadata, "labels": metadata["labels"][:5]}))
    with pytest.raises(ValueError, match="5 labels"):
        Classifier(model)
