"""Judge the shipped model through the function's own handler, as a caller would.

    python -m training.evaluate [--split-dir DIR]    # default: the validation split

Sends every picture of a split, as base64, through ``lambda_handler`` and
prints accuracy, per-class precision and recall, and the confusion matrix,
which it also draws to ``docs/confusion_matrix.png``.
"""

import argparse
import base64
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import lambda_function  # noqa: E402
from clothing.labels import CLASSES  # noqa: E402
from training import config  # noqa: E402
from training.data import list_images  # noqa: E402

PICTURE = config.ROOT / "docs" / "confusion_matrix.png"


def predict_split(split_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    paths, labels = list_images(split_dir)
    predictions = []
    for path in paths:
        answer = lambda_function.lambda_handler({"image": base64.b64encode(path.read_bytes()).decode()}, None)
        if "error" in answer:
            raise RuntimeError(f"{path}: {answer['error']}")
        predictions.append(CLASSES.index(max(answer, key=answer.get)))
    return labels, np.array(predictions)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    matrix = np.zeros((len(CLASSES), len(CLASSES)), dtype=int)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def report(matrix: np.ndarray) -> str:
    """Accuracy and a markdown table of per-class precision and recall."""
    lines = [f"accuracy: {np.trace(matrix) / matrix.sum():.4f} ({np.trace(matrix)} of {matrix.sum()})", "",
             "| class | pictures | precision | recall |", "|---|---:|---:|---:|"]
    for i, name in enumerate(CLASSES):
        precision = matrix[i, i] / max(matrix[:, i].sum(), 1)
        recall = matrix[i, i] / max(matrix[i].sum(), 1)
        lines.append(f"| {name} | {matrix[i].sum()} | {precision:.3f} | {recall:.3f} |")
    return "\n".join(lines)


def draw(matrix: np.ndarray, title: str, path: Path = PICTURE) -> None:
    figure, axes = plt.subplots(figsize=(7, 6))
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(CLASSES)), CLASSES, rotation=45, ha="right")
    axes.set_yticks(range(len(CLASSES)), CLASSES)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    for (row, col), count in np.ndenumerate(matrix):
        if count:
            axes.text(col, row, count, ha="center", va="center",
                      color="white" if count > matrix.max() / 2 else "black")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split-dir", type=Path, default=config.DATASET / "validation")
    parser.add_argument("--picture", type=Path, default=PICTURE, help="where to draw the confusion matrix")
    args = parser.parse_args()
    missing = [name for name in CLASSES if not (args.split_dir / name).is_dir()]
    if missing:
        parser.error(f"{args.split_dir} has no folder for {', '.join(missing)}: pass --split-dir, or set "
                     "CLOTHING_DATA to a copy of clothing-dataset-small")
    labels, predictions = predict_split(args.split_dir)
    matrix = confusion_matrix(labels, predictions)
    print(report(matrix))
    draw(matrix, f"{args.split_dir.name}: {np.trace(matrix)} of {matrix.sum()} right", args.picture)
    print(f"confusion matrix drawn to {args.picture}")


if __name__ == "__main__":
    main()
