"""Training settings in one place; every step of the pipeline reads them from here."""

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The dataset's folder: CLOTHING_DATA, else a cache folder that `python -m training.dataset` fills.
DATASET = Path(os.environ.get("CLOTHING_DATA") or
               Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "clothing-dataset-small")
WORK = ROOT / "training" / "work"  # caches and checkpoints; not tracked

ARCHITECTURE = "efficientnet-lite1"  # lite0 (224 px) and lite2 (260 px) also install from PyPI
INPUT_SIZE = 240  # the model is built for this size: its "same" padding is fixed from it
SEED = 7  # of the shipped run; other seeds go to other folders (see run_dir)
# A run repeats bit for bit with the same seed, data and thread count: on the CPU, how a sum is split among
# threads changes its last bits, and training carries them on. The count is saved in each checkpoint.
THREADS = 2

EPOCHS = 10
BATCH_SIZE = 32
LEARNING_RATE = 1e-3  # peak of the one-cycle schedule
WEIGHT_DECAY = 0.02
LABEL_SMOOTHING = 0.1
DISTILLATION_WEIGHT = 0.7  # share of the teachers' scores in the target, when a run has teachers
CROP_ASPECT_RANGE = 4 / 3  # the widest training crop over the narrowest: at most about 1.15:1 either way
EMA_DECAY = 0.995  # an exponential moving average of the weights is what gets exported

MODEL_FILE = ROOT / "clothing_model.tflite"
# The classes, in the model's output order, as the shipped model's settings file lists them: their one home.
CLASSES: tuple[str, ...] = tuple(json.loads(MODEL_FILE.with_suffix(".json").read_text())["labels"])


def run_dir(seed: int) -> Path:
    """Where the training run with this seed keeps its checkpoints."""
    return WORK / f"seed-{seed}"


def train_cache_size(input_size: int) -> int:
    """Training crops are taken from pictures this big: 8/7 of the input, 274 for 240."""
    return round(input_size * 8 / 7)
