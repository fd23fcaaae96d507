"""`make classify`: a catalog of pictures through the function's own Service, one JSON line each, resumable."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import IMAGES, LABELS, ROOT, label_of
from tests.pictures import rle8_bmp_padded_rows

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def classify(*arguments, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scripts.classify", *map(str, arguments)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def lines(out) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.process
def test_a_folder_gets_one_line_a_picture_with_the_functions_scores_and_a_summary(tmp_path):
    out = tmp_path / "results.jsonl"
    result = classify(IMAGES, "--out", out, "--workers", "2")
    assert result.returncode == 0, result.stderr
    answers = lines(out)
    assert sorted(a["input"] for a in answers) == sorted(str(p) for p in IMAGES.glob("*.jpg"))
    assert all(list(a["scores"]) == list(LABELS) for a in answers)
    right = sum(max(a["scores"], key=a["scores"].get) == label_of(IMAGES / os.path.basename(a["input"]))
                for a in answers)
    assert right >= 18  # the model's own accuracy on these pictures (tests/test_model.py)
    summary = result.stderr.strip().splitlines()
    assert summary[-3].startswith("20 inputs: 0 already in the output, 20 classified, 0 errors, in ")
    counted = dict(part.rsplit(" ", 1) for part in summary[-2].removeprefix("by class: ").split(", "))
    assert sum(map(int, counted.values())) == 20
    assert summary[-1].startswith("slowest: ") and summary[-1].count(" ms") == 5


@pytest.mark.process
def test_a_folder_is_read_by_content_and_every_file_is_accounted_for(tmp_path):
    """A photo saved without a suffix, as many downloads are, is classified; a text file and a file of no known
    kind are named as skipped; the summary's counts add up to what the folder holds; LiteRT's banner stays off
    the terminal."""
    folder = tmp_path / "downloads"
    (folder / "deeper").mkdir(parents=True)
    shutil.copy(IMAGES / "pants-1.jpg", folder / "pants-1.jpg")
    shutil.copy(IMAGES / "hat-1.jpg", folder / "deeper" / "photo")  # no suffix
    shutil.copy(IMAGES / "shoes-1.jpg", folder / "shoes.txt")  # a JPEG with a wrong name
    (folder / "notes.txt").write_text("shopping list\n")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1" + b"\0" * 100)
    out = tmp_path / "results.jsonl"
    result = classify(folder, "--out", out, "--workers", "1")
    assert result.returncode == 0, result.stderr
    answers = {os.path.relpath(a["input"], folder): a for a in lines(out)}
    assert set(answers) == {"pants-1.jpg", "deeper/photo", "shoes.txt"}
    assert max(answers["deeper/photo"]["scores"], key=answers["deeper/photo"]["scores"].get) == "hat"
    assert "XNNPACK" not in result.stderr
    summary = result.stderr.strip().splitlines()
    assert summary[-4].startswith("5 files: 0 already in the output, 3 classified, 0 errors, 2 not pictures, in ")
    assert summary[-3] == f"skipped 2 files that are not pictures: {folder / '.DS_Store'}, {folder / 'notes.txt'}"


@pytest.mark.process
def test_bad_files_and_hostile_pictures_each_get_their_typed_error_and_the_run_goes_on(tmp_path):
    folder = tmp_path / "catalog"
    folder.mkdir()
    for name in ("hat-1.jpg", "pants-2.jpg"):
        shutil.copy(IMAGES / name, folder / name)
    (folder / "notes.jpg").write_text("a shopping list, not a picture\n")
    (folder / "empty.png").write_bytes(b"")
    (folder / "cut.jpg").write_bytes((IMAGES / "shoes-1.jpg").read_bytes()[:3000])
    (folder / "bomb.bmp").write_bytes(rle8_bmp_padded_rows(50_000_000, 1))
    (folder / "large.jpg").write_bytes((IMAGES / "dress-1.jpg").read_bytes() * 40)
    out = tmp_path / "results.jsonl"
    result = classify(folder, "--out", out, env={"MAX_IMAGE_BYTES": "500000"})
    assert result.returncode == 0, result.stderr
    by_name = {os.path.basename(a["input"]): a for a in lines(out)}
    assert len(lines(out)) == len(by_name) == 7
    assert {name for name, a in by_name.items() if "scores" in a} == {"hat-1.jpg", "pants-2.jpg"}
    kinds = {name: a["error"]["type"] for name, a in by_name.items() if "error" in a}
    assert kinds == {"notes.jpg": "NotAnImage", "empty.png": "NotAnImage", "cut.jpg": "NotAnImage",
                     "bomb.bmp": "ImageTooLarge", "large.jpg": "ImageTooLarge"}
    assert all(set(a["error"]) == {"type", "message", "status"} for a in by_name.values() if "error" in a)
    assert "by error: NotAnImage 3, ImageTooLarge 2" in result.stderr
    assert "Traceback" not in result.stderr


def test_urls_follow_the_functions_address_policy(tmp_path, image_server):
    listing = tmp_path / "urls.txt"
    listing.write_text(f"# the shop's pictures\n{image_server}/images/shirt-1.jpg\n\n"
                       "http://169.254.169.254/latest/meta-data/\n")
    out = tmp_path / "results.jsonl"
    result = classify(listing, "--out", out)  # ALLOW_PRIVATE_URLS=true, as conftest sets: loopback passes
    assert result.returncode == 0, result.stderr
    answers = {a["input"]: a for a in lines(out)}
    assert "scores" in answers[f"{image_server}/images/shirt-1.jpg"]
    assert answers["http://169.254.169.254/latest/meta-data/"]["error"]["type"] == "UrlRefused"


@pytest.mark.process
@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_a_manifest_names_each_picture_by_key_beside_it(tmp_path, kind):
    for name in ("skirt-1.jpg", "shorts-2.jpg"):
        shutil.copy(IMAGES / name, tmp_path / name)
    manifest = tmp_path / f"manifest.{kind}"
    if kind == "csv":
        manifest.write_text("sku,key\n1,skirt-1.jpg\n2,shorts-2.jpg\n")
    else:
        manifest.write_text('{"sku": 1, "key": "skirt-1.jpg"}\n{"sku": 2, "key": "shorts-2.jpg"}\n')
    out = tmp_path / "results.jsonl"
    assert classify(manifest, "--out", out).returncode == 0
    assert sorted(a["input"] for a in lines(out)) == ["shorts-2.jpg", "skirt-1.jpg"]  # as the manifest gives them
    assert all("scores" in a for a in lines(out))


def many_pictures(folder, copies: int = 3):
    folder.mkdir()
    for copy in range(copies):
        for picture in IMAGES.glob("*.jpg"):
            shutil.copy(picture, folder / f"{copy}-{picture.name}")
    return folder


@pytest.mark.process
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT])
def test_a_run_stopped_midway_resumes_without_a_duplicate_or_a_loss(tmp_path, stop):
    folder = many_pictures(tmp_path / "catalog")
    out = tmp_path / "results.jsonl"
    process = subprocess.Popen([sys.executable, "-m", "scripts.classify", str(folder), "--out", str(out),
                                "--workers", "1"], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 60
    while (not out.exists() or len(out.read_text().splitlines()) < 5) and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, stop)  # the whole command, its workers too: a crash, or Ctrl-C at the terminal
    _, stderr = process.communicate(timeout=30)
    if stop == signal.SIGINT:
        assert process.returncode == 130 and "run it again to go on" in stderr and "Traceback" not in stderr
    first = len(out.read_text().splitlines())
    assert 5 <= first < 60
    with open(out, "a") as file:  # what a crash in the middle of a write leaves
        file.write('{"input": "' + str(folder / "0-hat-1.jpg"))
    result = classify(folder, "--out", out)
    assert result.returncode == 0, result.stderr
    names = [a["input"] for a in lines(out)]
    assert len(names) == len(set(names)) == 60
    assert set(names) == {str(p) for p in folder.glob("*.jpg")}
    assert f"60 inputs: {first} already in the output, {60 - first} classified" in result.stderr


@pytest.mark.process
@pytest.mark.parametrize(("arguments", "message"), [
    (["nowhere", "--out", "x.jsonl"], "classify: nowhere: no such folder or file"),
    (["MANIFEST", "--out", "x.jsonl"], "every row needs a url or key or path column"),
])
def test_a_users_mistake_is_one_line(tmp_path, arguments, message):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("sku,name\n1,a.jpg\n")
    arguments = [str(manifest) if a == "MANIFEST" else str(tmp_path / a) if a == "x.jsonl" else a for a in arguments]
    result = classify(*arguments)
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1].endswith(message.split(": ", 1)[-1])
    assert "Traceback" not in result.stderr


@pytest.mark.process
def test_every_entry_of_a_folder_gets_its_one_line_and_no_fifo_or_device_is_read(tmp_path):
    """A FIFO would block a reader forever and /dev/zero never end: neither is opened. Links to nothing or to
    themselves are entries too; a name's newline or escape sequence cannot forge the summary or drive the
    terminal."""
    folder = tmp_path / "catalog"
    folder.mkdir()
    shutil.copy(IMAGES / "hat-1.jpg", folder / "hat-1.jpg")
    forged = "x.jpg\n1 files: 0 already in the output, 1 classified\x1b]0;owned\x07"
    shutil.copy(IMAGES / "pants-1.jpg", folder / forged)
    os.mkfifo(folder / "pipe.jpg")
    (folder / "zero.jpg").symlink_to("/dev/zero")
    (folder / "gone.jpg").symlink_to(folder / "nothing-here.jpg")
    (folder / "loop.jpg").symlink_to(folder / "loop.jpg")
    out = tmp_path / "results.jsonl"
    result = classify(folder, "--out", out, "--workers", "1", timeout=60)
    assert result.returncode == 0, result.stderr
    by_name = {os.path.basename(a["input"]): a for a in lines(out)}
    assert len(lines(out)) == len(by_name) == 6
    assert {name for name, a in by_name.items() if "scores" in a} == {"hat-1.jpg", forged}
    assert {name: a["error"]["type"] for name, a in by_name.items() if "error" in a} == dict.fromkeys(
        ("pipe.jpg", "zero.jpg", "gone.jpg", "loop.jpg"), "UnreadableFile")
    assert "not a regular file" in by_name["pipe.jpg"]["error"]["message"]
    summary = result.stderr.strip().splitlines()
    assert summary[-4].startswith("6 inputs: 0 already in the output, 2 classified, 4 errors, in ")
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "x.jpg\\n1 files" in summary[-1]  # the slowest line names it, escaped, on one line
    assert "Traceback" not in result.stderr


@pytest.mark.process
def test_every_manifest_row_gets_its_one_line_whatever_it_holds(tmp_path):
    shutil.copy(IMAGES / "skirt-1.jpg", tmp_path / "skirt-1.jpg")
    csv_manifest = tmp_path / "manifest.csv"
    csv_manifest.write_text(f"path\nskirt-1.jpg\n{'a' * 200_000}\nmissing.jpg\n")
    jsonl = tmp_path / "manifest.jsonl"
    jsonl.write_text("\n".join([json.dumps({"path": "skirt-1.jpg"}), "[" * 100_000, json.dumps("skirt-1.jpg"),
                                "7", json.dumps({"sku": 1}), json.dumps({"path": "a\0b.jpg"})]) + "\n")
    expected = {csv_manifest: {"skirt-1.jpg": "scores", "manifest.csv row 2": "UnreadableRow",
                               "missing.jpg": "UnreadableFile"},
                jsonl: {"skirt-1.jpg": "scores", "manifest.jsonl row 2": "UnreadableRow",
                        "manifest.jsonl row 3": "UnreadableRow", "manifest.jsonl row 4": "UnreadableRow",
                        "manifest.jsonl row 5": "UnreadableRow", "a\0b.jpg": "UnreadableFile"}}
    for manifest, outcomes in expected.items():
        out = tmp_path / f"{manifest.name}.results"
        result = classify(manifest, "--out", out, "--workers", "1")
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        answers = {a["input"]: "scores" if "scores" in a else a["error"]["type"] for a in lines(out)}
        assert answers == outcomes and len(lines(out)) == len(outcomes)
        assert f"{len(outcomes)} inputs: 0 already in the output, 1 classified, {len(outcomes) - 1} errors" in \
            result.stderr
