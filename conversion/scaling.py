"""Which input scaling a model takes, where its graph scales its own input: found, and checked on pictures.

Comparing the converted model with its framework cannot see a scaling mistake, since both get the same
input. What can: the values a model's own Rescaling or Normalization makes of the pictures. Those layers are
built to bring pixels to a small range (0..1, -1..1, or about zero mean and unit spread). Fed pixels scaled
another way, they make values squeezed near one number, or far outside it.
"""

from collections.abc import Callable

import numpy as np

from conversion.source import ConversionError, OwnScaling

# The scalings a model that scales its own input may take, most likely first: pixels as decoded (Rescaling(1/255)
# and keras.applications' include_preprocessing), then x / 255, then the two common outside ones.
CANDIDATES = ("raw", "unit", "xception", "torch")
# What a preprocessing layer's output looks like when it gets the input it was built for.
LARGEST = (0.5, 10.0)  # the 99th percentile of the values' size
SMALLEST_SPREAD = 0.1  # their standard deviation


def range_of(values: np.ndarray) -> str:
    return f"{float(values.min()):.3g} to {float(values.max()):.3g}"


def fits(values: np.ndarray) -> bool:
    """Whether values look like what a preprocessing layer makes of its own kind of input."""
    largest = float(np.percentile(np.abs(values), 99))
    return LARGEST[0] <= largest <= LARGEST[1] and float(values.std()) >= SMALLEST_SPREAD


def choose_scaling(own: OwnScaling | None, asked: str | None,
                   pictures_scaled: Callable[[str], np.ndarray]) -> tuple[str, str]:
    """The scaling to convert with, and what to say of it; ConversionError for an asked one the model's own
    first layers refuse. ``pictures_scaled(name)`` gives the check pictures as that scaling prepares them."""
    if own is None:  # the graph does not say: the course's default, or what was asked
        return asked or "xception", ""
    made = {name: own.apply(pictures_scaled(name)) for name in CANDIDATES}
    fitting = [name for name in CANDIDATES if fits(made[name])]
    if asked is None:
        chosen = fitting[0] if fitting else "raw"
        return chosen, f"the model scales its own input ({own.name}): --scaling {chosen}"
    if asked in fitting or not fitting:
        return asked, f"the model scales its own input ({own.name})"
    if asked not in made:
        made[asked] = own.apply(pictures_scaled(asked))
    raise ConversionError(
        f"--scaling {asked} does not fit the model's own {own.name}: on the check pictures it makes values from "
        f"{range_of(made[asked])}, where pixels scaled as --scaling {fitting[0]} give {range_of(made[fitting[0]])}, "
        f"as it was built for; pass --scaling {fitting[0]}")
