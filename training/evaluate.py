"""Judge the shipped model through the function's own handler, as a caller would; compare two on the same pictures.

    python -m training.evaluate [--split-dir DIR] [--model FILE]   # default: the validation split, the shipped model
    python -m training.evaluate --against OTHER.tflite            # the two, picture by picture
    python -m training.evaluate --promote NEW.tflite [--force]    # NEW replaces the shipped model only if better
    python -m training.evaluate --promote-cheaper NEW.tflite     # ... only if not worse beyond the margin

Sends every picture of a split, as base64, through ``lambda_handler`` (in a
fresh process per model, with MODEL_PATH set as a deployment would) and prints
accuracy, per-class precision and recall, and the confusion matrix, which it
also draws to ``docs/confusion_matrix.png``. ``--against`` adds McNemar's exact
test and a paired bootstrap interval of the accuracy difference (training/paired.py).
``--promote`` moves NEW, its settings and its reference answers into the shipped model's place
only when it is better beyond noise, and otherwise says so in one line and
exits 1; ``--force`` replaces it anyway. ``--promote-cheaper`` does the same for a cheaper variant of the same
network (its int8 file): it replaces the model only when not worse beyond ``paired.CHEAPER_MARGIN`` and when it
gives the model's top answer on ``paired.CHEAPER_AGREEMENT`` of the pictures whose answer is clear, and then
replaces the shipped model (``make quantize`` compares the int8 file with the float network it comes from).
"""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from clothing.classifier import metadata_path  # noqa: E402
from clothing.reference import reference_path  # noqa: E402
from clothing.service import LOW_CONFIDENCE  # noqa: E402
from training import config, paired  # noqa: E402
from training.config import CLASSES  # noqa: E402
from training.data import list_images  # noqa: E402

PICTURE = config.ROOT / "docs" / "confusion_matrix.png"


# Each picture through the handler, in a process whose MODEL_PATH is the model judged.
PREDICT = """
import base64, json, sys
import lambda_function
from training.config import CLASSES
for line in sys.stdin:
    answer = lambda_function.lambda_handler({"image": base64.b64encode(open(line.strip(), "rb").read()).decode()})
    if "error" in answer:
        sys.exit(f"{line.strip()}: {answer['error']['message']}")
    first, second = sorted(answer.values())[-1:-3:-1]
    print(CLASSES.index(max(answer, key=answer.get)), first, second, flush=True)
"""


def predict_split(split_dir: Path, model: Path = config.MODEL_FILE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The split's labels, and ``model``'s answers through ``lambda_handler`` in a fresh process: the class
    answered, and its score and the next best (two columns)."""
    paths, labels = list_images(split_dir)
    env = {**os.environ, "MODEL_PATH": str(model), "LOG_LEVEL": "ERROR"}
    result = subprocess.run([sys.executable, "-c", PREDICT], input="".join(f"{path}\n" for path in paths),
                            capture_output=True, text=True, env=env, cwd=config.ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"{model}: {(result.stderr.strip().splitlines() or ['failed'])[-1]}")
    answers = [line.split() for line in result.stdout.splitlines()]
    return labels, np.array([int(index) for index, *_ in answers]), np.array([[float(top), float(next_best)]
                                                                             for _, top, next_best in answers])


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    matrix = np.zeros((len(CLASSES), len(CLASSES)), dtype=int)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def report(matrix: np.ndarray) -> str:
    """Accuracy and a markdown table of per-class precision and recall."""
    low, high = paired.wilson_interval(int(np.trace(matrix)), int(matrix.sum()))
    lines = [f"accuracy: {np.trace(matrix) / matrix.sum():.4f} ({np.trace(matrix)} of {matrix.sum()})",
             f"{paired.LEVEL:.0%} interval: {low:.1f}% to {high:.1f}% (Wilson), what these pictures can tell", "",
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


def shown(path: Path) -> str:
    """A path as the user would write it: from the working folder where it is under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def promote(candidate: Path, shipped: Path = config.MODEL_FILE) -> None:
    """The candidate, its settings and its reference answers into the shipped model's place, each copied whole,
    then moved."""
    for source, target in ((Path(reference_path(candidate)), Path(reference_path(shipped))),
                           (Path(metadata_path(candidate)), Path(metadata_path(shipped))), (candidate, shipped)):
        staged = target.with_name(f".{target.name}.new")
        shutil.copyfile(source, staged)
        os.replace(staged, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split-dir", type=Path, default=config.DATASET / "validation")
    parser.add_argument("--model", type=Path, default=config.MODEL_FILE, help="the model judged (default: shipped)")
    parser.add_argument("--picture", type=Path, default=PICTURE, help="where to draw the confusion matrix")
    other = parser.add_mutually_exclusive_group()
    other.add_argument("--against", type=Path, help="another model, compared picture by picture")
    other.add_argument("--promote", type=Path, help="a new model, to replace --model only if better beyond noise")
    other.add_argument("--promote-cheaper", type=Path,
                       help="a cheaper variant of --model, to replace it only if not worse beyond the margin")
    parser.add_argument("--force", action="store_true", help="with --promote: replace it whatever the comparison")
    args = parser.parse_args(argv)
    missing = [name for name in CLASSES if not (args.split_dir / name).is_dir()]
    if missing:
        parser.error(f"{args.split_dir} has no folder for {', '.join(missing)}: pass --split-dir, or set "
                     "CLOTHING_DATA to a copy of clothing-dataset-small")
    for model in (args.model, args.against, args.promote, args.promote_cheaper):
        if model is not None and not (model.is_file() and Path(metadata_path(model)).is_file()):
            parser.error(f"{model}: no such model with its settings file ({Path(metadata_path(model)).name}) beside it")
    labels, predictions, tops = predict_split(args.split_dir, args.model)
    print(report(confusion_matrix(labels, predictions)))
    tops, next_bests = tops[:, 0], tops[:, 1]
    unsure = int((tops < LOW_CONFIDENCE).sum())
    print(f"\nunsure answers (top score under {LOW_CONFIDENCE}): {unsure} of {len(tops)} "
          f"({100 * unsure / len(tops):.1f}%), the share the template's drift alarm compares with")
    challenger = args.against or args.promote or args.promote_cheaper
    if challenger:
        _, predictions_of_challenger, _ = predict_split(args.split_dir, challenger)
        comparison = paired.compare(labels, predictions, predictions_of_challenger)
        clear = tops - next_bests > 0.02
        agreement = float((predictions == predictions_of_challenger)[clear].mean())
        lines = paired.described(comparison, shown(args.model), shown(challenger))
        lines.insert(-1, f"{shown(challenger)} gives {shown(args.model)}'s top answer on {100 * agreement:.1f}% of "
                         f"the {int(clear.sum())} pictures where that answer is clear")
        print("", *lines, sep="\n")
        if args.against:
            return 0
        if args.promote_cheaper and not (comparison.second_is_not_worse(agreement) or args.force):
            low, high = comparison.interval
            print(f"evaluate: {shown(challenger)} is worse than {shown(args.model)} beyond the margin "
                  f"({comparison.difference:+.2f} points, interval {low:+.2f} to {high:+.2f}, top answers kept on "
                  f"{100 * agreement:.1f}%; needed above {paired.CHEAPER_MARGIN}, at least "
                  f"{paired.CHEAPER_DIFFERENCE} and {100 * paired.CHEAPER_AGREEMENT:.0f}%): {shown(args.model)} is "
                  "kept", file=sys.stderr)
            return 1
        if args.promote and not (comparison.second_is_better or args.force):
            low, high = comparison.interval
            print(f"evaluate: {shown(challenger)} is not better than {shown(args.model)} beyond noise "
                  f"({comparison.difference:+.2f} points, {paired.LEVEL:.0%} interval {low:+.2f} to {high:+.2f}): "
                  f"{shown(args.model)} is kept; --force replaces it anyway", file=sys.stderr)
            return 1
        shipped = config.MODEL_FILE if args.promote_cheaper else args.model  # a variant of --model is shipped
        promote(challenger, shipped)
        kept_by = comparison.second_is_not_worse(agreement) if args.promote_cheaper else comparison.second_is_better
        print(f"{shown(challenger)} replaced {shown(shipped)}{'' if kept_by else ' (--force)'}")
        predictions = predictions_of_challenger
    matrix = confusion_matrix(labels, predictions)
    draw(matrix, f"{args.split_dir.name}: {np.trace(matrix)} of {matrix.sum()} right", args.picture)
    print(f"confusion matrix drawn to {args.picture}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
