"""Reference answers: a few pictures and the scores the model's own framework gave them, kept beside the model.

``make convert`` writes ``clothing_model.reference.json`` beside ``clothing_model.tflite`` from the answers it
checked the conversion with; the image carries it, and before a new version gets traffic the pre-traffic
check (``clothing.pre_traffic``) sends each picture to that version and compares. A mis-scaled settings file,
labels in another order or a broken model file answer otherwise, and the rollout stops.

One rule for every comparison, the conversion's too (``conversion.agreement``): no score may move by more than
``MAX_SCORE_DIFFERENCE``, and wherever the reference's two best scores are further apart than that, the top
answer must be the same. Plain Python: the hook that reads this imports nothing heavy.
"""

import base64
import json
import math
import os

MAX_SCORE_DIFFERENCE = 0.02


def reference_path(model_path: str | os.PathLike) -> str:
    """``clothing_model.tflite`` → ``clothing_model.reference.json``."""
    return os.path.splitext(model_path)[0] + ".reference.json"


def write_reference(model_path: str | os.PathLike, pictures: dict[str, bytes],
                    scores: list[dict[str, float]], source: str) -> None:
    """The reference file beside ``model_path``: each picture (base64) and the scores ``source`` gave it."""
    entries = [{"name": name, "image": base64.b64encode(data).decode(),
                "scores": {label: round(float(score), 6) for label, score in answer.items()}}
               for (name, data), answer in zip(pictures.items(), scores, strict=True)]
    with open(reference_path(model_path), "w") as file:
        file.write(json.dumps({"source": source, "max_score_difference": MAX_SCORE_DIFFERENCE,
                               "pictures": entries}, indent=1) + "\n")


def read_reference(path: str | os.PathLike) -> dict:
    with open(path) as file:
        return json.load(file)


def differences(expected: dict[str, float], answered: object) -> str | None:
    """Why ``answered`` is not the answer ``expected`` foresaw, in one line; None when it is."""
    if not isinstance(answered, dict) or set(answered) != set(expected):
        shown = sorted(answered)[:12] if isinstance(answered, dict) else type(answered).__name__
        return f"answered {shown}, not scores for {sorted(expected)}"
    if not all(isinstance(score, int | float) and not isinstance(score, bool) and math.isfinite(score)
               for score in answered.values()):
        return "answered scores that are not finite numbers"
    largest = max(abs(answered[label] - score) for label, score in expected.items())
    ranked = sorted(expected, key=expected.__getitem__, reverse=True)
    clear = len(ranked) < 2 or expected[ranked[0]] - expected[ranked[1]] > MAX_SCORE_DIFFERENCE
    top = max(answered, key=answered.__getitem__)
    if clear and top != ranked[0]:
        return f"answered {top} ({answered[top]:.3f}) where the reference says {ranked[0]} ({expected[ranked[0]]:.3f})"
    if largest > MAX_SCORE_DIFFERENCE:
        return f"a score {largest:.3f} away from the reference (at most {MAX_SCORE_DIFFERENCE})"
    return None
