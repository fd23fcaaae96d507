"""The clothing dataset: found through ``CLOTHING_DATA``, downloaded once when that folder is empty.

    python -m training.dataset    # says where the dataset is, downloading it first if needed

The download is GitHub's archive of ``alexeygrigorev/clothing-dataset-small``.
GitHub does not promise byte-identical archives over time, so what is pinned
is the content: a digest of every file of the splits training reads. A
download that differs by one byte is refused and leaves nothing behind. The
archive's test split is never unpacked: it stays unseen, to judge the model.
"""

import hashlib
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from tqdm import tqdm

from training import config

SOURCE_URL = "https://github.com/alexeygrigorev/clothing-dataset-small/archive/refs/heads/master.tar.gz"
SPLITS = ("train", "validation")
# content_digest() of the 3,409 pictures in train/ and validation/.
CONTENT_SHA256 = "a8d719762a85795884abdff0e8adc497d2804fa0f4fa03a4ed1ef5db06d2c1db"
CHUNK_BYTES = 1 << 20


class DatasetError(Exception):
    """The dataset is missing, incomplete, or not the pinned one."""


def content_digest(folder: Path) -> str:
    """SHA-256 over the relative path and bytes of every file in the training splits, in a stable order."""
    digest = hashlib.sha256()
    for split in SPLITS:
        for path in sorted(p for p in (folder / split).rglob("*") if p.is_file()):
            digest.update(f"{path.relative_to(folder).as_posix()}\t{hashlib.sha256(path.read_bytes()).hexdigest()}\n"
                          .encode())
    return digest.hexdigest()


def is_complete(folder: Path) -> bool:
    return all((folder / split).is_dir() for split in SPLITS)


def ensure(folder: Path = config.DATASET, url: str = SOURCE_URL, expected: str = CONTENT_SHA256) -> Path:
    """The dataset folder, downloaded and checked first when it does not exist or is empty."""
    if is_complete(folder):
        return folder
    if folder.exists() and any(folder.iterdir()):
        raise DatasetError(f"{folder} is neither empty nor a copy of the dataset (it lacks {' or '.join(SPLITS)}/)")
    download(url, folder, expected)
    return folder


def download(url: str, folder: Path, expected: str) -> None:
    """Fetch the archive, unpack its training splits, check their digest, then move them into place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".download-") as scratch:
        archive = Path(scratch) / "dataset.tar.gz"
        fetch(url, archive)
        unpacked = Path(scratch) / "unpacked"
        unpack_splits(archive, unpacked)
        found = content_digest(unpacked)
        if found != expected:
            raise DatasetError(f"the download from {url} is not the pinned dataset "
                               f"(content digest {found}, expected {expected})")
        if folder.exists():
            folder.rmdir()  # empty, as ensure() checked
        unpacked.rename(folder)
    print(f"{folder}: the pinned dataset, checked")


def fetch(url: str, path: Path) -> None:
    print(f"downloading {url}")
    with urllib.request.urlopen(url, timeout=60) as response, path.open("wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc="dataset") as bar:
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                bar.update(len(chunk))


def unpack_splits(archive: Path, into: Path) -> None:
    """Only ``<top>/train/…``, ``<top>/validation/…`` and the licence, with the archive's top folder dropped."""
    into.mkdir()
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if len(parts) < 2 or not (parts[1] in SPLITS or parts[1] == "LICENSE"):
                continue
            member.name = str(Path(*parts[1:]))
            tar.extract(member, into, filter="data")
    if not is_complete(into):
        raise DatasetError(f"the archive has no {' and '.join(SPLITS)} folders")


def ensure_or_exit() -> Path:
    """``ensure()`` for a command: what went wrong, and what to do, in one line rather than a traceback."""
    try:
        return ensure()
    except (DatasetError, OSError) as error:
        raise SystemExit(f"error: {error}. Set CLOTHING_DATA to a copy of clothing-dataset-small.") from None


if __name__ == "__main__":
    print(ensure_or_exit())
