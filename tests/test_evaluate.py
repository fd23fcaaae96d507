"""``python -m training.evaluate``, in a fresh process, on a split made of the test pictures, and without one."""

import shutil
import subprocess
import sys

from clothing.labels import CLASSES
from tests.conftest import IMAGES, ROOT


def evaluate(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "training.evaluate", *arguments], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_a_split_is_judged_through_the_handler_and_its_confusion_matrix_drawn(tmp_path):
    split = tmp_path / "split"
    for name in CLASSES:
        (split / name).mkdir(parents=True)
        for picture in IMAGES.glob(f"{name}-*.jpg"):
            shutil.copy(picture, split / name)
    result = evaluate("--split-dir", str(split), "--picture", str(tmp_path / "matrix.png"))
    assert result.returncode == 0, result.stderr
    [accuracy] = [line for line in result.stdout.splitlines() if line.startswith("accuracy: ")]
    assert accuracy.endswith(f" of {2 * len(CLASSES)})")
    assert all(f"| {name} | 2 |" in result.stdout for name in CLASSES)
    assert (tmp_path / "matrix.png").read_bytes().startswith(b"\x89PNG")


def test_a_missing_split_is_named_in_one_line_with_what_to_set(tmp_path):
    result = evaluate("--split-dir", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{tmp_path / 'nowhere'} has no folder for dress, hat," in result.stderr
    assert "set CLOTHING_DATA" in result.stderr
