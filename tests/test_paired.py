"""The paired comparison that decides whether a new model replaces the shipped one, worked by hand."""

import numpy as np
import pytest

from training import paired


def test_mcnemars_exact_test_is_the_binomial_split_of_the_discordant_pictures():
    assert paired.mcnemar_exact(0, 0) == 1.0
    assert paired.mcnemar_exact(0, 6) == pytest.approx(2 / 64)  # six of six one way: 2 * (1/2)^6
    assert paired.mcnemar_exact(6, 0) == paired.mcnemar_exact(0, 6)
    assert paired.mcnemar_exact(1, 9) == pytest.approx(2 * (1 + 10) / 1024)
    assert paired.mcnemar_exact(5, 5) == 1.0


def predictions(labels: np.ndarray, wrong: list[int]) -> np.ndarray:
    answered = labels.copy()
    answered[wrong] = (labels[wrong] + 1) % 10
    return answered


def test_one_picture_better_in_341_is_not_better_beyond_noise():
    labels = np.arange(341) % 10
    shipped, new = predictions(labels, list(range(20))), predictions(labels, list(range(1, 20)))
    comparison = paired.compare(labels, shipped, new)
    assert (comparison.first_right, comparison.second_right) == (321, 322)
    assert (comparison.only_first, comparison.only_second) == (0, 1)
    assert comparison.difference == pytest.approx(100 / 341)
    low, high = comparison.interval
    assert low <= 0 < comparison.difference <= high
    assert not comparison.second_is_better


def test_fifteen_more_pictures_right_and_none_lost_is_better_beyond_noise():
    labels = np.arange(341) % 10
    comparison = paired.compare(labels, predictions(labels, list(range(30))), predictions(labels, list(range(15))))
    assert comparison.p_value == pytest.approx(2 / 2**15)
    assert comparison.interval[0] > 0 and comparison.second_is_better
    assert paired.described(comparison, "old", "new")[-1] == "verdict: new is better beyond noise"


def test_the_wilson_interval_of_an_accuracy():
    low, high = paired.wilson_interval(321, 341)
    assert (round(low, 1), round(high, 1)) == (91.1, 96.2)  # 94.1% of 341 pictures
    assert paired.wilson_interval(20, 20)[1] == pytest.approx(100)


@pytest.mark.parametrize(("extra_wrong", "agreement", "kept"), [
    (0, 0.99, True),  # as good, its top answers kept: a cheaper variant ships
    (1, 0.99, True),  # one picture worse in 341: -0.29 points, its interval above -1.5
    (3, 0.99, False),  # three worse: -0.88 points, beyond the -0.5 the difference may reach
    (0, 0.97, False),  # as accurate, but another top answer on too many clear pictures
])
def test_a_cheaper_variant_ships_only_when_not_worse_beyond_the_margin(extra_wrong, agreement, kept):
    labels = np.arange(341) % 10
    shipped = predictions(labels, list(range(20)))
    cheaper = predictions(labels, list(range(20 + extra_wrong)))
    comparison = paired.compare(labels, shipped, cheaper)
    assert comparison.second_is_not_worse(agreement) is kept
    assert not comparison.second_is_better
