"""A smoke run of the pipeline on two pictures a class: prepare, train, convert, check; distillation; soups.

The pictures are the repository's own (``tests/images``), laid out as the dataset is: no download, no copy
of the dataset needed.
"""

import base64
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from clothing.classifier import Classifier
from clothing.reference import differences, read_reference, reference_path
from experiments import ensemble, soup
from training import config, convert, data, train
from training.config import CLASSES
from training.model import Ensemble

PICTURES = config.ROOT / "tests" / "images"


def dataset_of_test_pictures(tmp_path_factory) -> Path:
    """``tests/images`` as a dataset: both pictures of each class in train/ and in validation/."""
    root = tmp_path_factory.getbasetemp() / "dataset"
    if not root.exists():
        for split in ("train", "validation"):
            for name in CLASSES:
                (root / split / name).mkdir(parents=True)
                for picture in sorted(PICTURES.glob(f"{name}-[0-9].jpg")):
                    shutil.copy(picture, root / split / name / picture.name)
    return root


@pytest.fixture(autouse=True)
def small_dataset(tmp_path_factory, monkeypatch):
    root = dataset_of_test_pictures(tmp_path_factory)
    monkeypatch.setattr(config, "DATASET", root)
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> list[tuple[Path, dict]]:
    """Two runs of one epoch at the default size (seeds 0 and 1), trained once for the tests that only read
    them: each run, and its final state."""
    root = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(config, "DATASET", dataset_of_test_pictures(tmp_path_factory))
        patch.setattr(config, "WORK", root)
        return [(root / f"seed-{seed}", train.train(root / f"seed-{seed}", seed, epochs=1, limit=2))
                for seed in (0, 1)]


@pytest.fixture(scope="module")
def shipped_single(trained, tmp_path_factory) -> tuple[Path, dict]:
    """The first run converted, checked and shipped as ``make model`` ships one: the file and the report."""
    work = tmp_path_factory.mktemp("shipped")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(config, "DATASET", dataset_of_test_pictures(tmp_path_factory))
        patch.setattr(config, "WORK", work)
        shipped = work / "clothing_model.tflite"
        return shipped, convert.convert([trained[0][0] / "best.pt"], limit=2, ship_to=shipped, work=work)


# torch and the converter warn about their own deprecations; those are not this project's to fix.
pytestmark = [pytest.mark.training,
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "WORK", tmp_path)
    return tmp_path


def test_prepare_caches_pictures_exactly_as_serving_prepares_them(work, small_dataset):
    cache = np.load(data.prepare_split("validation", config.INPUT_SIZE, limit=2))
    assert cache["pixels"].shape == (20, config.INPUT_SIZE, config.INPUT_SIZE, 3)
    assert sorted(set(cache["labels"].tolist())) == list(range(len(CLASSES)))
    first = small_dataset / "validation" / CLASSES[0] / str(cache["names"][0])
    np.testing.assert_array_equal(cache["pixels"][0], data.load_pixels(first, config.INPUT_SIZE))


def test_pipeline_from_pictures_to_a_checked_tflite_model(trained, shipped_single):
    run, state = trained[0]
    assert (run / "best.pt").exists() and (run / "last.pt").exists()
    assert state["epoch"] == 1

    shipped, report = shipped_single
    assert report[convert.SHIPPED_VARIANT]["megabytes"] < report["float32"]["megabytes"]
    classifier = Classifier(shipped)
    assert classifier.labels == CLASSES
    scores = classifier.scores(np.zeros((1, config.INPUT_SIZE, config.INPUT_SIZE, 3), np.float32))
    assert scores.shape == (len(CLASSES),) and abs(scores.sum() - 1) < 1e-3
    reference = read_reference(reference_path(shipped))  # PyTorch's answers, for a deploy's pre-traffic check
    assert (reference["source"], len(reference["pictures"])) == ("PyTorch", 10)
    for picture in reference["pictures"]:
        assert differences(picture["scores"], classifier.classify_bytes(base64.b64decode(picture["image"]))) is None


def test_an_ensemble_of_two_runs_mirrored_too_becomes_one_checked_tflite_model(work, trained, shipped_single):
    runs = [run for run, _ in trained]
    results = ensemble.compare(runs, limit=2)
    assert len(results) == 6 and all(0 <= accuracy <= 1 for accuracy in results.values())

    shipped = work / "clothing_model.tflite"
    report = convert.convert([run / "best.pt" for run in runs], limit=2, ship_to=shipped, mirror=True,
                             work=work / "ensemble")  # the agreement check against the PyTorch ensemble passed
    assert (work / "ensemble" / "conversion.json").exists()
    single = shipped_single[1]
    assert report["float32"]["megabytes"] > 1.9 * single["float32"]["megabytes"]  # both networks are in it
    classifier = Classifier(shipped)
    picture = np.random.default_rng(0).uniform(-1, 1, (1, config.INPUT_SIZE, config.INPUT_SIZE, 3))
    scores = classifier.scores(picture.astype(np.float32))
    mirrored = classifier.scores(picture[:, :, ::-1].astype(np.float32))
    assert abs(scores.sum() - 1) < 1e-3
    np.testing.assert_allclose(scores, mirrored, atol=2e-3)  # a picture and its mirror get one answer


def test_runs_trained_at_different_sizes_are_compared_at_one_size_chosen_for_all(work, capsys, trained):
    assert config.INPUT_SIZE == 240  # the shared runs' size
    runs = [work / "224", trained[1][0]]
    train.train(runs[0], 0, epochs=1, limit=2, input_size=224)
    with pytest.raises(ValueError, match="different input sizes"):
        ensemble.compare(runs, limit=2)
    capsys.readouterr()
    results = ensemble.compare(runs, limit=2, input_size=240)
    assert len(results) == 6 and all(0 <= accuracy <= 1 for accuracy in results.values())

    # The pictures listed as missed by every run: each run's answer differs from the label, and as many as said.
    printed = capsys.readouterr().out.split("missed by every run alone: ")[1].splitlines()
    count, listed = int(printed[0].split(" of ")[0]), printed[1:]
    assert len(listed) == count
    for line in listed:
        label, answers = line.strip().split("/")[0], line.split(": ")[1].split(", ")
        assert len(answers) == 2 and label not in answers
    best_alone = max(results[f"{run.name} (1 pass)"] for run in runs)
    assert best_alone <= 1 - count / 20 + 1e-6


def test_an_ensemble_answers_the_mean_of_its_networks_probabilities():
    torch.manual_seed(0)
    networks = [torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 10)) for _ in range(2)]
    images = torch.rand(5, 3, 4, 4)
    expected = (torch.softmax(networks[0](images), -1) + torch.softmax(networks[1](images), -1)) / 2
    torch.testing.assert_close(Ensemble(networks)(images), expected)
    flipped = images.flip(3)
    mirrored = Ensemble(networks, mirror=True)(images)
    torch.testing.assert_close(mirrored, (expected + Ensemble(networks)(flipped)) / 2)
    torch.testing.assert_close(Ensemble(networks, mirror=True)(flipped), mirrored)


def test_a_greedy_soup_is_never_worse_than_its_best_run(work, trained):
    runs = [run for run, _ in trained]
    best = max(state["best_accuracy"] for _, state in trained)
    mixed = soup.greedy_soup(runs, work / "soup.pt", limit=2)
    assert mixed["accuracy"] >= best
    assert mixed["runs"][0] in map(str, runs) and (work / "soup.pt").exists()


def test_a_run_learns_from_the_scores_of_finished_runs(work, trained):
    teacher = trained[0][0]
    state = train.train(work / "student", seed=1, epochs=1, limit=2, teachers=[teacher])
    assert state["epoch"] == 1 and (work / "student" / "best.pt").exists()

    teachers = train.load_teachers([teacher], config.ARCHITECTURE, config.INPUT_SIZE)
    labels = torch.tensor([0, 9])
    images = torch.rand(2, 3, config.INPUT_SIZE, config.INPUT_SIZE) * 2 - 1
    labelled, taught = train.targets(labels, images, []), train.targets(labels, images, teachers)
    torch.testing.assert_close(taught.sum(1), torch.ones(2))
    assert labelled.argmax(1).tolist() == [0, 9]
    assert (taught - labelled).abs().max() > 0.01  # the teacher's scores moved the target
    with pytest.raises(ValueError, match="input size"):
        train.load_teachers([teacher], config.ARCHITECTURE, 256)


def test_a_run_repeats_bit_for_bit_with_its_seed_and_threads(work, trained):
    """The shipped checkpoint can be made again exactly (config.THREADS); another seed makes other weights."""
    train.train(work / "again", seed=0, epochs=1, limit=2)
    first, again, other = (torch.load(run / "best.pt", weights_only=False)["model"]
                           for run in (trained[0][0], work / "again", trained[1][0]))
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert not all(torch.equal(first[key], other[key]) for key in first)
