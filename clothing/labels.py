"""The ten classes, in the model's output order."""

CLASSES = (
    "dress", "hat", "longsleeve", "outwear", "pants",
    "shirt", "shoes", "shorts", "skirt", "t-shirt",
)
