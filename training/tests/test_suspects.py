"""The suspect finder on features where the truth is known: a few labels are swapped on purpose."""

import numpy as np
import pytest

from training.suspects import suspects

pytestmark = pytest.mark.training


def test_swapped_labels_are_found_first():
    rng = np.random.default_rng(0)
    classes, per_class = 4, 40
    centres = rng.normal(scale=4, size=(classes, 16))
    labels = np.repeat(np.arange(classes), per_class)
    features = centres[labels] + rng.normal(size=(len(labels), 16))
    swapped = np.array([3, 50, 97, 130])
    noisy = labels.copy()
    noisy[swapped] = (labels[swapped] + 1) % classes
    scores, ranked = suspects(features, noisy, folds=5, seed=0)
    assert scores.shape == (len(labels), classes)
    assert set(ranked[:len(swapped)]) == set(swapped)
