"""``python -m training.evaluate``, in a fresh process, on a split made of the test pictures, and without one."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IMAGES, LABELS, ROOT

pytestmark = pytest.mark.process  # every test here starts a process or a server


def evaluate(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "training.evaluate", *arguments], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_a_split_is_judged_through_the_handler_and_its_confusion_matrix_drawn(tmp_path):
    split = small_split(tmp_path)
    result = evaluate("--split-dir", str(split), "--picture", str(tmp_path / "matrix.png"))
    assert result.returncode == 0, result.stderr
    [accuracy] = [line for line in result.stdout.splitlines() if line.startswith("accuracy: ")]
    assert accuracy.endswith(f" of {2 * len(LABELS)})")
    assert all(f"| {name} | 2 |" in result.stdout for name in LABELS)
    assert (tmp_path / "matrix.png").read_bytes().startswith(b"\x89PNG")


def test_a_missing_split_is_named_in_one_line_with_what_to_set(tmp_path):
    result = evaluate("--split-dir", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{tmp_path / 'nowhere'} has no folder for dress, hat," in result.stderr
    assert "set CLOTHING_DATA" in result.stderr


def small_split(tmp_path):
    split = tmp_path / "split"
    for name in LABELS:
        (split / name).mkdir(parents=True)
        for picture in IMAGES.glob(f"{name}-*.jpg"):
            shutil.copy(picture, split / name)
    return split


def model_copy(folder: Path, name: str, **settings) -> Path:
    """The shipped model under another name, its settings file beside it with ``settings`` added, and a reference
    file naming the folder."""
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.tflite"
    shutil.copy(ROOT / "clothing_model.tflite", path)
    shipped = json.loads((ROOT / "clothing_model.json").read_text())
    path.with_suffix(".json").write_text(json.dumps({**shipped, **settings}))
    path.with_suffix(".reference.json").write_text(json.dumps({"source": folder.name, "pictures": []}))
    return path


def test_against_compares_two_models_picture_by_picture_with_an_interval(tmp_path):
    split = small_split(tmp_path)
    flipped = model_copy(tmp_path / "models", "flipped", flip=True)
    result = evaluate("--split-dir", str(split), "--against", str(flipped))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    [interval] = [line for line in lines if " minus " in line]
    assert "95% interval" in interval and "McNemar's exact p = " in interval
    assert lines[-1] == f"verdict: {flipped} is not better beyond noise"


def test_promote_keeps_the_shipped_model_unless_the_new_one_is_surely_better_or_forced(tmp_path):
    split = small_split(tmp_path)
    shipped = model_copy(tmp_path / "shipped", "clothing_model")
    new = model_copy(tmp_path / "new", "clothing_model", flip=True)
    before = shipped.with_suffix(".json").read_text()
    refused = evaluate("--split-dir", str(split), "--model", str(shipped), "--promote", str(new))
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1].startswith(
        f"evaluate: {new} is not better than {shipped} beyond noise (")
    assert refused.stderr.strip().endswith(f"{shipped} is kept; --force replaces it anyway")
    assert shipped.with_suffix(".json").read_text() == before
    forced = evaluate("--split-dir", str(split), "--model", str(shipped), "--promote", str(new), "--force",
                      "--picture", str(tmp_path / "matrix.png"))
    assert forced.returncode == 0, forced.stderr
    assert f"{new} replaced {shipped} (--force)" in forced.stdout
    assert shipped.with_suffix(".json").read_text() == new.with_suffix(".json").read_text()
    assert json.loads(shipped.with_suffix(".reference.json").read_text())["source"] == "new"  # it travels too
