"""The dataset download, against a real HTTP server on 127.0.0.1 serving an archive the test makes."""

import functools
import io
import os
import subprocess
import sys
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from training import config, dataset

pytestmark = pytest.mark.training


def make_archive(path, files: dict[str, bytes]) -> None:
    """A tar.gz laid out as GitHub's archive: everything under one top folder."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(f"clothing-dataset-small-master/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """Serves ``tmp_path/site`` on 127.0.0.1; yields (folder, base URL)."""
    site = tmp_path / "site"
    site.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield site, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


FILES = {
    "train/hat/a.jpg": b"hat picture",
    "train/shoes/b.jpg": b"shoes picture",
    "validation/hat/c.jpg": b"another hat",
    "test/hat/d.jpg": b"kept apart",
    "LICENSE": b"CC0",
}


def expected_digest(tmp_path) -> str:
    folder = tmp_path / "reference"
    for name, content in FILES.items():
        if name.split("/")[0] in dataset.SPLITS:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(content)
    return dataset.content_digest(folder)


def test_an_empty_folder_is_filled_with_the_training_splits_and_never_the_test_split(tmp_path, server):
    site, url = server
    make_archive(site / "data.tar.gz", FILES)
    target = tmp_path / "cache" / "clothing-dataset-small"
    assert dataset.ensure(target, f"{url}/data.tar.gz", expected_digest(tmp_path)) == target
    assert (target / "train" / "hat" / "a.jpg").read_bytes() == b"hat picture"
    assert (target / "validation" / "hat" / "c.jpg").is_file()
    assert not (target / "test").exists()
    assert sorted(p.name for p in target.parent.iterdir()) == ["clothing-dataset-small"]  # no leftovers


def test_a_download_with_other_content_is_refused_and_leaves_nothing(tmp_path, server):
    site, url = server
    make_archive(site / "data.tar.gz", {**FILES, "train/hat/a.jpg": b"tampered"})
    target = tmp_path / "cache" / "clothing-dataset-small"
    with pytest.raises(dataset.DatasetError, match="not the pinned dataset"):
        dataset.ensure(target, f"{url}/data.tar.gz", expected_digest(tmp_path))
    assert list(target.parent.iterdir()) == []


def test_an_archive_without_the_splits_is_refused(tmp_path, server):
    site, url = server
    make_archive(site / "data.tar.gz", {"README.md": b"nothing here"})
    with pytest.raises(dataset.DatasetError, match="no train and validation"):
        dataset.ensure(tmp_path / "d", f"{url}/data.tar.gz", "0" * 64)


def test_an_existing_copy_is_used_as_it_is_and_a_stray_folder_is_not_overwritten(tmp_path):
    copy = tmp_path / "copy"
    (copy / "train").mkdir(parents=True)
    (copy / "validation").mkdir()
    assert dataset.ensure(copy, "http://127.0.0.1:9/never-fetched", "unused") == copy
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    with pytest.raises(dataset.DatasetError, match="neither empty nor a copy"):
        dataset.ensure(stray, "http://127.0.0.1:9/never-fetched", "unused")
    assert (stray / "notes.txt").read_text() == "mine"


def test_the_pinned_digest_covers_exactly_the_training_splits(tmp_path):
    folder = tmp_path / "d"
    (folder / "train" / "hat").mkdir(parents=True)
    (folder / "validation").mkdir()
    (folder / "train" / "hat" / "a.jpg").write_bytes(b"x")
    before = dataset.content_digest(folder)
    (folder / "README.md").write_text("not part of it")
    assert dataset.content_digest(folder) == before
    (folder / "train" / "hat" / "a.jpg").write_bytes(b"y")
    assert dataset.content_digest(folder) != before


@pytest.mark.parametrize("command", ["training.data", "training.dataset"])
def test_a_command_without_the_dataset_says_what_to_set_in_one_line(tmp_path, command):
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    result = subprocess.run([sys.executable, "-m", command], cwd=config.ROOT, capture_output=True, text=True,
                            env={**os.environ, "CLOTHING_DATA": str(stray)}, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {stray} is neither empty nor a copy of the dataset (it lacks train or validation/). "
        "Set CLOTHING_DATA to a copy of clothing-dataset-small."]
