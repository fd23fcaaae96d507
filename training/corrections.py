"""Reviewed corrections to training labels, applied when training; validation is never corrected.

``label_corrections.csv`` lists pictures of the training split whose label is
plainly wrong (a skirt filed under dress, a zipped jacket under longsleeve):
``python -m training.suspects`` ranked the suspects, a person looked at each
and wrote down only the clear mistakes, with the reason. A ``corrected`` of
``drop`` leaves the picture out. Every line must match a picture and its
current label, so a list that no longer fits the data fails loudly.
"""

import csv
from pathlib import Path

import numpy as np

from training.config import CLASSES

CORRECTIONS = Path(__file__).with_name("label_corrections.csv")


def load(path: Path = CORRECTIONS) -> dict[str, tuple[str, str]]:
    """``class/file`` → (label, corrected label or "drop")."""
    with path.open(newline="") as lines:
        rows = list(csv.DictReader(lines))
    corrections = {}
    for row in rows:
        folder = row["file"].split("/", 1)[0]
        if row["label"] != folder or row["label"] not in CLASSES:
            raise ValueError(f"{path.name}: {row['file']} is filed under {folder}, not {row['label']}")
        if row["corrected"] not in (*CLASSES, "drop") or row["corrected"] == row["label"]:
            raise ValueError(f"{path.name}: {row['file']}: {row['corrected']!r} is no correction")
        if row["file"] in corrections:
            raise ValueError(f"{path.name}: {row['file']} is listed twice")
        corrections[row["file"]] = (row["label"], row["corrected"])
    return corrections


def apply(names: np.ndarray, labels: np.ndarray, corrections: dict[str, tuple[str, str]]
          ) -> tuple[np.ndarray, np.ndarray]:
    """The indices of the pictures to train on, and their corrected labels."""
    files = [f"{CLASSES[label]}/{name}" for name, label in zip(names, labels, strict=True)]
    missing = set(corrections) - set(files)
    if missing:
        raise ValueError(f"{len(missing)} corrections match no training picture, e.g. {sorted(missing)[0]}")
    corrected = labels.copy()
    keep = []
    for index, file in enumerate(files):
        new = corrections.get(file, (None, None))[1]
        if new == "drop":
            continue
        if new is not None:
            corrected[index] = CLASSES.index(new)
        keep.append(index)
    keep = np.array(keep, dtype=np.int64)
    return keep, corrected[keep]
