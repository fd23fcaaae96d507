"""The reviewed label corrections: what the list may say, and what training does with it."""

import numpy as np
import pytest

from training import corrections
from training.config import CLASSES

pytestmark = pytest.mark.training

HEADER = "file,label,corrected,reason\n"


def write(tmp_path, *rows: str):
    path = tmp_path / "corrections.csv"
    path.write_text(HEADER + "".join(row + "\n" for row in rows))
    return path


def labels_of(*names: str) -> np.ndarray:
    return np.array([CLASSES.index(name) for name in names])


def test_relabels_and_drops_only_the_listed_pictures(tmp_path):
    listed = corrections.load(write(tmp_path, "dress/b.jpg,dress,skirt,a skirt", "longsleeve/c.jpg,longsleeve,drop,x"))
    names = np.array(["a.jpg", "b.jpg", "c.jpg", "d.jpg"])
    keep, labels = corrections.apply(names, labels_of("dress", "dress", "longsleeve", "hat"), listed)
    assert keep.tolist() == [0, 1, 3]
    assert labels.tolist() == labels_of("dress", "skirt", "hat").tolist()


@pytest.mark.parametrize("row", [
    "dress/b.jpg,skirt,dress,filed under dress, said to be skirt",
    "dress/b.jpg,dress,dress,no change",
    "dress/b.jpg,dress,gown,not a class",
])
def test_a_line_that_is_no_correction_is_refused(tmp_path, row):
    with pytest.raises(ValueError):
        corrections.load(write(tmp_path, row))


def test_a_line_listed_twice_is_refused(tmp_path):
    with pytest.raises(ValueError, match="twice"):
        corrections.load(write(tmp_path, "dress/b.jpg,dress,skirt,x", "dress/b.jpg,dress,drop,y"))


def test_a_list_that_no_longer_fits_the_data_fails(tmp_path):
    listed = corrections.load(write(tmp_path, "dress/gone.jpg,dress,skirt,x"))
    with pytest.raises(ValueError, match="match no training picture"):
        corrections.apply(np.array(["a.jpg"]), labels_of("dress"), listed)


def test_the_shipped_list_is_well_formed():
    assert corrections.load()
