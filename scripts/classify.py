"""Classify a whole catalog on this machine: every picture of a folder, a list of URLs, or a manifest.

    python -m scripts.classify INPUT --out results.jsonl [--workers N] [--column url]
    make classify INPUT=photos/ OUT=results.jsonl

INPUT is a folder (its pictures, recursively: a file is one when Pillow
recognises its first bytes as a format the function accepts, or when its
name ends as a picture's does; every other file is named in the summary as
skipped), a text file with one URL or
path a line, or a CSV or JSON Lines manifest whose ``url``, ``key`` or
``path`` column (or ``--column``) names each picture; paths are taken from the
manifest's folder. Each answer is one JSON line in OUT, ``{"input": ...,
"scores": {...}}`` or ``{"input": ..., "error": {...}}`` with the error object
the function answers, written whole and flushed, so a rerun skips what OUT
already holds and a line cut short by a crash is dropped first. Every input
gets its line: a file that cannot be read (missing, unreadable, a link to
nothing, a FIFO or a device, which are never opened) is an ``UnreadableFile``,
a manifest row with no picture in it an ``UnreadableRow``. Names are printed
with their control characters escaped.

Each worker process builds its own ``clothing.service.Service``, with one
interpreter thread: the same model, limits and address policy as the
function (``ALLOW_PRIVATE_URLS`` and the other settings come from the
environment, as for ``make serve``).
"""

import argparse
import collections
import concurrent.futures
import contextlib
import csv
import json
import logging
import multiprocessing
import os
import signal
import stat
import sys
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import NamedTuple

from tqdm import tqdm

PICTURE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".avif"}
COLUMNS = ("url", "key", "path")
SLOWEST = 5
NAMED_SKIPS = 5  # skipped files named in the summary; the rest are counted
SIGNATURE_BYTES = 16  # enough for every accepted format's signature (AVIF's brand ends at byte 12)
# LiteRT's C++ logger prints this on stderr when it makes the XNNPACK delegate, with no setting to quiet it.
LITERT_BANNER = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."

_service = None  # each worker's own, built by _start_worker


class CatalogError(Exception):
    """A mistake in the command's input: said in one line."""


class Item(NamedTuple):
    """One input: what its output line calls it, and where to read it (a URL or a file path), or why it cannot
    be read (``unreadable``: an error object, written as its line without reading anything)."""

    name: str
    where: str = ""
    unreadable: dict | None = None


def unreadable(kind: str, message: str) -> dict:
    return {"type": kind, "message": message, "status": 400}


def printable(name: str) -> str:
    """A name as the terminal may show it: control characters (newlines, escape sequences) escaped."""
    return "".join(repr(c)[1:-1] if unicodedata.category(c) in ("Cc", "Cf") else c for c in name)


def open_regular(path: str) -> int:
    """A file descriptor of ``path``, which must be a regular file: a FIFO is not waited on, a device not read."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise IsADirectoryError(0, "not a regular file (a folder, a FIFO, a device or a socket)")
    return descriptor


def is_picture(prefix: bytes, path: Path) -> bool:
    """Whether Pillow's own identification (each accepted format's signature test) takes the file's first bytes,
    whatever its name; or, failing that, whether its name says it is a picture (it then gets its error line)."""
    from PIL import Image  # noqa: PLC0415 - only a folder needs it

    from clothing.decoding.decode import load_decoder  # noqa: PLC0415

    return any(Image.OPEN[fmt][1](prefix) for fmt in load_decoder(prefix)) or path.suffix.lower() in PICTURE_SUFFIXES


def folder_inputs(folder: Path) -> tuple[list[Item], list[str]]:
    """The folder's pictures and the entries that cannot be read, as ``inputs`` gives them, and the files that
    are not pictures, which are skipped: every entry but its folders is one or the other."""
    pictures, others = [], []
    for path in sorted(folder.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        name = str(path)
        try:
            descriptor = open_regular(name)
        except IsADirectoryError as error:
            if path.is_dir():  # a link to a folder, which is not followed
                others.append(name)
            else:
                pictures.append(Item(name, unreadable=unreadable("UnreadableFile", error.strerror)))
            continue
        except OSError as error:  # missing, forbidden, a link to nothing or to itself
            pictures.append(Item(name, unreadable=unreadable("UnreadableFile", error.strerror or str(error))))
            continue
        with os.fdopen(descriptor, "rb") as file:
            prefix = file.read(SIGNATURE_BYTES)
        (pictures.append(Item(name, name)) if is_picture(prefix, path) else others.append(name))
    return pictures, others


def manifest_rows(source: Path) -> list[object]:
    """Each row of a CSV or JSON Lines manifest, or the reason it cannot be read (a string)."""
    rows: list[object] = []
    with open(source, newline="") as file:
        if source.suffix.lower() == ".csv":
            reader = csv.DictReader(file)
            while True:
                try:
                    rows.append(next(reader))
                except StopIteration:
                    break
                except csv.Error as error:
                    rows.append(f"not a CSV row ({error})")
        else:
            for line in file:
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except (ValueError, RecursionError):
                        rows.append("not a JSON value, or one nested too deep")
    return rows


def manifest_inputs(source: Path, column: str | None) -> list[Item]:
    rows = manifest_rows(source)
    objects = [row for row in rows if isinstance(row, dict)]
    name = column or next((c for c in COLUMNS if objects and c in objects[0]), None)
    if name is None or not any(name in row for row in objects):
        raise CatalogError(f"{source}: every row needs a {column or ' or '.join(COLUMNS)} column")
    items = []
    for number, row in enumerate(rows, 1):
        label = f"{source.name} row {number}"
        if isinstance(row, str):
            items.append(Item(label, unreadable=unreadable("UnreadableRow", row)))
        elif not isinstance(row, dict) or not isinstance(row.get(name), str | int) or not str(row[name]).strip():
            items.append(Item(label, unreadable=unreadable("UnreadableRow", f"not an object with a {name}")))
        else:
            items.append(Item(str(row[name])))
    return items


def inputs(source: Path, column: str | None = None) -> tuple[list[Item], list[str]]:
    """Each input (what the output line calls it, where to read it: a URL or a file path, or why it cannot be
    read), and the files of a folder that are not pictures."""
    if source.is_dir():
        return folder_inputs(source)
    if not source.is_file():
        raise CatalogError(f"{printable(str(source))}: no such folder or file")
    if source.suffix.lower() in (".csv", ".jsonl", ".ndjson"):
        items = manifest_inputs(source, column)
    else:
        items = [Item(line.strip()) for line in source.read_text().splitlines()
                 if line.strip() and not line.startswith("#")]
    base = source.parent
    return [item if item.unreadable else item._replace(where=item.name if "://" in item.name else
                                                       str(base / item.name)) for item in items], []


def done_inputs(out: Path) -> set[str]:
    """What OUT already answers; a last line cut short by a crash is cut off first."""
    if not out.exists():
        return set()
    data = out.read_bytes()
    whole = data[:data.rfind(b"\n") + 1]
    if len(whole) != len(data):
        with open(out, "r+b") as file:
            file.truncate(len(whole))
    return {json.loads(line)["input"] for line in whole.splitlines() if line.strip()}


@contextlib.contextmanager
def without_litert_banner():
    """Hold file descriptor 2 while the interpreter is made, then pass on all it got but LiteRT's banner, which
    would break the progress bar."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            sys.stderr.writelines(line for line in held.read().decode(errors="replace").splitlines(keepends=True)
                                  if line.strip() != LITERT_BANNER)
            sys.stderr.flush()


def _start_worker() -> None:
    """Build this worker's Service; Ctrl-C is the parent's to handle."""
    global _service
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("INTERPRETER_THREADS", "1")
    from clothing.service import Service  # noqa: PLC0415 - in the worker, after it starts
    from clothing.settings import Settings  # noqa: PLC0415

    logger = logging.getLogger("clothing-classify")
    logger.addHandler(logging.StreamHandler())
    logger.setLevel(logging.ERROR)  # per-picture outcomes go to OUT; only the unexpected to the terminal
    with without_litert_banner():
        _service = Service(Settings.from_environment(), logger)


def classify(item: Item) -> tuple[str, dict, float]:
    """One picture's output line, and how long it took."""
    from clothing.errors import ImageTooLarge  # noqa: PLC0415
    from clothing.request import Request  # noqa: PLC0415

    limit = _service.settings.max_image_bytes
    started = time.perf_counter()
    if "://" in item.where:
        request = Request(url=item.where)
    else:
        try:
            with os.fdopen(open_regular(item.where), "rb") as file:
                request = Request(image=file.read(limit + 1))
        except (OSError, ValueError) as error:  # gone, forbidden, not a file; a name with a NUL in it
            message = getattr(error, "strerror", None) or str(error)
            return item.name, {"error": unreadable("UnreadableFile", message)}, time.perf_counter() - started

    if request.image is not None and len(request.image) > limit:
        answer = _service.refused(ImageTooLarge(f"the file is over the limit of {limit} bytes"), "catalog")
    else:
        answer = _service.answer(request, route="catalog")
    return item.name, answer.outcome(), time.perf_counter() - started


def run(source: Path, out: Path, workers: int, column: str | None = None) -> dict:
    """Classify what ``source`` names into ``out``; returns the summary."""
    todo_all, not_pictures = inputs(source, column)
    done = done_inputs(out)
    todo = [item for item in todo_all if item.name not in done]
    classes, errors, times = collections.Counter(), collections.Counter(), []
    started = time.monotonic()
    context = multiprocessing.get_context("spawn")  # a fresh interpreter each: no state of this process
    with open(out, "a") as file, tqdm(total=len(todo), unit="picture", file=sys.stderr) as bar, \
            concurrent.futures.ProcessPoolExecutor(workers, context, initializer=_start_worker) as pool:
        pending, items = set(), iter(todo)

        def write(name: str, body: dict, seconds: float) -> None:
            file.write(json.dumps({"input": name, **body}) + "\n")
            file.flush()
            if "scores" in body:
                classes[max(body["scores"], key=body["scores"].get)] += 1
            else:
                errors[body["error"]["type"]] += 1
            times.append((seconds, name))
            bar.update()

        try:
            exhausted = False
            while True:
                while not exhausted and len(pending) < 4 * workers:
                    item = next(items, None)
                    if item is None:
                        exhausted = True
                    elif item.unreadable:  # its line needs no worker
                        write(item.name, {"error": item.unreadable}, 0.0)
                    else:
                        pending.add(pool.submit(classify, item))
                if not pending:
                    break
                finished, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in finished:
                    write(*future.result())
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    elapsed = time.monotonic() - started
    return {"files": len(todo_all) + len(not_pictures), "not_pictures": not_pictures,
            "inputs": len(todo_all), "skipped": len(todo_all) - len(todo), "classified": sum(classes.values()),
            "errors": dict(errors.most_common()), "classes": dict(classes.most_common()), "seconds": elapsed,
            "per_second": len(todo) / elapsed if todo and elapsed else 0.0,
            "slowest": [(name, round(seconds * 1000)) for seconds, name in sorted(times, reverse=True)[:SLOWEST]]}


def report(summary: dict) -> str:
    """The summary, whose first line's counts add up to every input (and, for a folder, every file in it)."""
    not_pictures = summary["not_pictures"]
    counts = (f"{summary['skipped']} already in the output, {summary['classified']} classified, "
              f"{sum(summary['errors'].values())} errors")
    lines = [f"{summary['files']} files: {counts}, {len(not_pictures)} not pictures" if not_pictures
             else f"{summary['inputs']} inputs: {counts}"]
    lines[0] += f", in {summary['seconds']:.1f} s ({summary['per_second']:.1f} pictures a second)"
    if not_pictures:
        named = ", ".join(map(printable, not_pictures[:NAMED_SKIPS]))
        more = f" and {len(not_pictures) - NAMED_SKIPS} more" if len(not_pictures) > NAMED_SKIPS else ""
        are = "file that is not a picture" if len(not_pictures) == 1 else "files that are not pictures"
        lines.append(f"skipped {len(not_pictures)} {are}: {named}{more}")
    if summary["classes"]:
        lines.append("by class: " + ", ".join(f"{label} {count}" for label, count in summary["classes"].items()))
    if summary["errors"]:
        lines.append("by error: " + ", ".join(f"{kind} {count}" for kind, count in summary["errors"].items()))
    if summary["slowest"]:
        lines.append("slowest: " + ", ".join(f"{printable(name)} {ms} ms" for name, ms in summary["slowest"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=Path, help="a folder, a text file of URLs or paths, or a .csv/.jsonl manifest")
    parser.add_argument("--out", type=Path, required=True, help="the JSON Lines file the answers are added to")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="worker processes (default: every CPU this process may use)")
    parser.add_argument("--column", help="the manifest's column that names each picture (default: url, key or path)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    try:
        summary = run(args.input, args.out, args.workers, args.column)
    except (CatalogError, OSError, ValueError) as error:  # and an OUT that cannot be written, a bad manifest
        print(f"classify: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nclassify: stopped; {args.out} holds every answer written so far: run it again to go on",
              file=sys.stderr)
        return 130
    print(report(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
