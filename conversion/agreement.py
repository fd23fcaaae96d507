"""When a converted model answers as its source does: one rule for every converter (Keras and PyTorch alike).

Wherever the source's two best scores are more than ``MAX_SCORE_DIFFERENCE``
apart, the converted model must give the same top answer (closer than that, a
flip is rounding); and no score may move by more than ``MAX_SCORE_DIFFERENCE``.
Plain NumPy, so that every environment can import it. The pre-traffic check of a deploy compares a new
version's answers with the conversion's by the same rule (``clothing.reference``).
"""

import numpy as np

from clothing.reference import MAX_SCORE_DIFFERENCE
from conversion.source import ConversionError


def disagreement(reference: np.ndarray, converted: np.ndarray) -> tuple[int, float, bool]:
    """Clear top answers that differ, the largest score difference, and whether the two agree (NaN never does)."""
    ranked = np.sort(reference, axis=1)
    clear = ranked[:, -1] - ranked[:, -2] > MAX_SCORE_DIFFERENCE
    differing = int((clear & (reference.argmax(1) != converted.argmax(1))).sum())
    largest = float(np.abs(reference - converted).max())
    return differing, largest, differing == 0 and largest <= MAX_SCORE_DIFFERENCE


def check_agreement(reference: np.ndarray, converted: np.ndarray, framework: str) -> float:
    """The largest score difference; ConversionError, naming the framework, unless the two agree."""
    differing, largest, agrees = disagreement(reference, converted)
    if not agrees:
        raise ConversionError(f"the TF-Lite model differs from {framework}: another top answer on {differing} clear "
                              f"pictures, scores up to {largest:.4f} apart (at most {MAX_SCORE_DIFFERENCE})")
    return largest
