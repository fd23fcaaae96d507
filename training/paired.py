"""Whether one model is better than another on the same pictures, beyond what chance would give.

One accuracy on 341 pictures moves by a picture or two between seeds, so two models are compared picture by
picture: McNemar's exact test on the pictures only one of them gets right, and a paired bootstrap interval of
the accuracy difference (the same resampled pictures for both).
"""

import math
from dataclasses import dataclass

import numpy as np

RESAMPLES = 10_000
LEVEL = 0.95
# A cheaper variant of a model (int8 for float16) replaces it when it is not worse beyond this margin, in points,
# nor by its own difference, and gives its top answer where the first model's is clear.
CHEAPER_MARGIN = -1.5  # the interval's lower end must lie above it
CHEAPER_DIFFERENCE = -0.5  # the difference itself at least this
CHEAPER_AGREEMENT = 0.98  # of the pictures whose first answer is clear (two best scores over 0.02 apart)


@dataclass(frozen=True)
class Comparison:
    pictures: int
    first_right: int
    second_right: int
    only_first: int  # pictures the first model gets right and the second wrong
    only_second: int
    p_value: float  # McNemar's exact test, two-sided
    interval: tuple[float, float]  # of the second's accuracy minus the first's, in points

    @property
    def difference(self) -> float:
        return 100 * (self.second_right - self.first_right) / self.pictures

    def second_is_not_worse(self, agreement: float) -> bool:
        """Not worse beyond the margin, for a cheaper variant: ``agreement`` is its share of the first model's
        clear top answers it gives too."""
        return self.interval[0] > CHEAPER_MARGIN and self.difference >= CHEAPER_DIFFERENCE and \
            agreement >= CHEAPER_AGREEMENT

    @property
    def second_is_better(self) -> bool:
        """Better beyond noise: the whole interval above zero, and McNemar's test agreeing."""
        return self.interval[0] > 0 and self.p_value < 1 - LEVEL


def wilson_interval(right: int, pictures: int, z: float = 1.959964) -> tuple[float, float]:
    """The LEVEL interval of one accuracy, in points (Wilson's score interval)."""
    share = right / pictures
    centre = (share + z * z / (2 * pictures)) / (1 + z * z / pictures)
    half = z * math.sqrt(share * (1 - share) / pictures + z * z / (4 * pictures**2)) / (1 + z * z / pictures)
    return 100 * (centre - half), 100 * (centre + half)


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """The two-sided p-value of the discordant pairs' split under "both models are as good": Binomial(n, 1/2)."""
    n, k = only_first + only_second, min(only_first, only_second)
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)


def bootstrap_interval(first: np.ndarray, second: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """The LEVEL interval of the accuracy difference, in points, from pictures drawn again with replacement."""
    rows = np.random.default_rng(seed).integers(0, len(first), size=(RESAMPLES, len(first)))
    differences = 100 * (second[rows].mean(axis=1) - first[rows].mean(axis=1))
    tail = 100 * (1 - LEVEL) / 2
    return float(np.percentile(differences, tail)), float(np.percentile(differences, 100 - tail))


def compare(labels: np.ndarray, first: np.ndarray, second: np.ndarray) -> Comparison:
    """Two models' predictions on the same pictures, compared."""
    first_right, second_right = first == labels, second == labels
    only_first, only_second = int((first_right & ~second_right).sum()), int((second_right & ~first_right).sum())
    return Comparison(len(labels), int(first_right.sum()), int(second_right.sum()), only_first, only_second,
                      mcnemar_exact(only_first, only_second),
                      bootstrap_interval(first_right.astype(float), second_right.astype(float)))


def described(comparison: Comparison, first: str, second: str) -> list[str]:
    c = comparison
    low, high = c.interval
    return [f"{first}: {100 * c.first_right / c.pictures:.2f}% ({c.first_right} of {c.pictures})",
            f"{second}: {100 * c.second_right / c.pictures:.2f}% ({c.second_right} of {c.pictures})",
            f"they differ on {c.only_first + c.only_second} pictures: {c.only_first} only {first} gets right, "
            f"{c.only_second} only {second}",
            f"{second} minus {first}: {c.difference:+.2f} points, {LEVEL:.0%} interval {low:+.2f} to {high:+.2f} "
            f"(paired bootstrap, {RESAMPLES:,} resamples); McNemar's exact p = {c.p_value:.3f}",
            f"verdict: {second} is {'' if c.second_is_better else 'not '}better beyond noise"]
