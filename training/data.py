"""Prepare the dataset: decode every picture once, with the serving code, into arrays.

    python -m training.data    # downloads the dataset first when CLOTHING_DATA's folder is empty

Idempotent: existing caches are kept. Validation pictures are prepared
exactly as the Lambda function prepares a request; training pictures a
little larger, so that training can take random crops of them.
"""

from pathlib import Path

import numpy as np
from tqdm import tqdm

from clothing.decoding.decode import decode_image
from clothing.model_input import resize
from training import config, dataset
from training.config import CLASSES


def list_images(split_dir: Path) -> tuple[list[Path], np.ndarray]:
    """Image paths of one split and their class indices, in a stable order."""
    paths, labels = [], []
    for index, name in enumerate(CLASSES):
        for path in sorted((split_dir / name).iterdir()):
            paths.append(path)
            labels.append(index)
    return paths, np.array(labels, dtype=np.int64)


def load_pixels(path: Path, size: int) -> np.ndarray:
    """One picture as uint8 HWC pixels at size x size, through the serving code."""
    return np.asarray(resize(decode_image(path.read_bytes(), size), size))


def prepare_split(split: str, size: int, limit: int = 0) -> Path:
    """Cache one split of ``config.DATASET`` as ``WORK/<split>-<size>.npz``; ``limit`` keeps that many per class."""
    out = config.WORK / f"{split}-{size}{f'-{limit}' if limit else ''}.npz"
    if out.exists():
        return out
    paths, labels = list_images(config.DATASET / split)
    if limit:
        keep = np.concatenate([np.flatnonzero(labels == c)[:limit] for c in range(len(CLASSES))])
        paths, labels = [paths[i] for i in keep], labels[keep]
    pixels = np.stack([load_pixels(p, size) for p in tqdm(paths, desc=f"prepare {split}")])
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, pixels=pixels, labels=labels, names=np.array([p.name for p in paths]))
    print(f"{out}: {len(labels)} pictures, {pixels.nbytes / 2**20:.0f} MiB")
    return out


def prepare(input_size: int = config.INPUT_SIZE, limit: int = 0) -> tuple[Path, Path]:
    return (
        prepare_split("train", config.train_cache_size(input_size), limit=limit),
        prepare_split("validation", input_size, limit=limit),
    )


if __name__ == "__main__":
    dataset.ensure_or_exit()
    prepare()
