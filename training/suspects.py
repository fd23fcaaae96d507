"""List training pictures whose label looks wrong, for a person to review.

    python -m training.suspects > suspects.csv

Every training picture gets out-of-fold class scores: features from the
ImageNet-pretrained network (never fine-tuned on this data), and a logistic
regression fitted on the other four fifths of the split. ``cleanlab`` then
ranks the pictures whose given label those scores disagree with most. The
list only points at pictures to look at: what a person decides goes into
``training/label_corrections.csv``, which training applies.
"""

import argparse
import contextlib
import csv
import sys

import numpy as np
import torch
import torch.nn.functional as F
from cleanlab.filter import find_label_issues
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from tqdm import tqdm

from clothing.model_input import InputPreparer
from training import config, data
from training.config import CLASSES
from training.model import build
from training.train import to_tensor

ARCHITECTURE = "efficientnet-lite2"  # the strongest pretrained features that install from PyPI
INPUT_SIZE = 260


@torch.no_grad()
def features(pixels: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Pooled ImageNet features of every picture, averaged with its mirror image."""
    with contextlib.redirect_stdout(sys.stderr):  # the model package prints as it loads; stdout is the list
        network = build(ARCHITECTURE, INPUT_SIZE).eval()
    prepare = InputPreparer(INPUT_SIZE)
    pooled = []
    for start in tqdm(range(0, len(pixels), batch_size), desc="features"):
        images = F.interpolate(to_tensor(pixels[start:start + batch_size], prepare), size=INPUT_SIZE,
                               mode="bilinear", antialias=True, align_corners=False)
        both = torch.cat([images, images.flip(3)])
        maps = network._avg_pooling(network.extract_features(both)).flatten(1)
        pooled.append(((maps[:len(images)] + maps[len(images):]) / 2).numpy())
    return np.concatenate(pooled)


def out_of_fold_scores(features: np.ndarray, labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Each picture's class scores from a linear probe that never saw it."""
    classifier = LogisticRegression(C=0.5, max_iter=2000)
    standardized = (features - features.mean(0)) / (features.std(0) + 1e-6)
    splits = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return cross_val_predict(classifier, standardized, labels, cv=splits, method="predict_proba")


def suspects(features: np.ndarray, labels: np.ndarray, folds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The out-of-fold scores, and the pictures whose label they doubt, the most doubtful first."""
    scores = out_of_fold_scores(features, labels, folds, seed)
    return scores, find_label_issues(labels, scores, return_indices_ranked_by="self_confidence", n_jobs=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=config.SEED)
    args = parser.parse_args()

    train_file = data.prepare_split("train", config.train_cache_size(INPUT_SIZE))
    split = np.load(train_file)
    labels = split["labels"]
    scores, ranked = suspects(features(split["pixels"]), labels, args.folds, args.seed)
    accuracy = (scores.argmax(1) == labels).mean()
    print(f"out-of-fold accuracy of the linear probe: {accuracy:.3f}", file=sys.stderr)
    writer = csv.writer(sys.stdout)
    writer.writerow(["file", "label", "suggested", "label_score", "suggested_score"])
    for index in ranked:
        suggested = int(scores[index].argmax())
        writer.writerow([f"{CLASSES[labels[index]]}/{split['names'][index]}", CLASSES[labels[index]],
                         CLASSES[suggested], f"{scores[index, labels[index]]:.3f}",
                         f"{scores[index, suggested]:.3f}"])
    print(f"{len(ranked)} suspects of {len(labels)}", file=sys.stderr)


if __name__ == "__main__":
    main()
