"""What the image holds, read from the Dockerfile: the files COPY puts in the task root, and the handler.

``make serve`` runs exactly these files, so it reads the Dockerfile with a
maintained parser (``dockerfile-parse``: continuations, comments, JSON form)
and accepts a strict subset of what Docker does, refusing the rest with the
line it is on rather than serving something the image would not hold:

- ``COPY`` in shell or JSON form, with globs, into ``${LAMBDA_TASK_ROOT}`` or a
  folder below it; ``--chown``, ``--chmod`` and ``--link`` change nothing here.
  ``COPY --from`` and ``ADD`` are refused.
- ``CMD`` in JSON form with one handler, as the Lambda base image expects.
- one ``FROM``: multi-stage builds are refused.

A COPY source must be in the build context as Docker's clients send it: the folder less what
``.dockerignore`` leaves out, read by docker-py (the client ``sam build`` uses), so that a file the image
cannot get is missing here too.
"""

import json
import shlex
from pathlib import Path
from typing import NamedTuple

from docker.utils.build import exclude_paths
from dockerfile_parse import DockerfileParser

TASK_ROOT_NAMES = ("${LAMBDA_TASK_ROOT}", "$LAMBDA_TASK_ROOT", "/var/task")
HARMLESS_FLAGS = ("--chown=", "--chmod=", "--link")


class DockerfileError(Exception):
    """The Dockerfile uses something that make serve cannot reproduce."""


class Copy(NamedTuple):
    """One source file or folder and where it lands, relative to the task root."""

    source: Path
    destination: str


class Image(NamedTuple):
    copies: list[Copy]
    handler: str
    folder: Path  # the build context's folder
    sent: frozenset[str]  # the files of it a Docker client sends, relative to the folder


def build_context(folder: Path) -> frozenset[str]:
    """The files a Docker client sends as the build context: docker-py's own reading of ``.dockerignore``
    (``APIClient.build``: a line is a pattern unless empty or a comment) and its own matching."""
    ignore = folder / ".dockerignore"
    patterns = []
    if ignore.exists():
        lines = [line.strip() for line in ignore.read_text().splitlines()]
        patterns = [line for line in lines if line and not line.startswith("#")]
    return frozenset(exclude_paths(str(folder), patterns, dockerfile="Dockerfile"))


def read_image(dockerfile: Path) -> Image:
    """The files the image copies into its task root, in order, and the handler its CMD names."""
    context = dockerfile.parent
    sent = build_context(context)
    with dockerfile.open("rb") as file:
        instructions = DockerfileParser(fileobj=file).structure
    copies, handler, bases = [], None, 0
    for instruction in instructions:
        kind, value, line = instruction["instruction"], instruction["value"], instruction["startline"] + 1
        if kind == "FROM":
            bases += 1
            if bases > 1:
                raise DockerfileError(f"Dockerfile line {line}: a second FROM; multi-stage builds are not served")
        elif kind == "ADD":
            raise DockerfileError(f"Dockerfile line {line}: ADD is not served; use COPY")
        elif kind == "COPY":
            copies += _copies(value, context, sent, line)
        elif kind == "CMD":
            handler = _handler(value, line)
    if handler is None:
        raise DockerfileError("the Dockerfile has no CMD naming the handler")
    return Image(copies, handler, context, sent)


def _words(value: str, line: int) -> list[str]:
    if value.lstrip().startswith("["):
        try:
            words = json.loads(value)
        except ValueError:
            raise DockerfileError(f"Dockerfile line {line}: not a valid JSON array: {value}") from None
        if not all(isinstance(word, str) for word in words):
            raise DockerfileError(f"Dockerfile line {line}: the JSON array must hold strings")
        return words
    return shlex.split(value)


def _copies(value: str, context: Path, sent: frozenset[str], line: int) -> list[Copy]:
    value = value.strip()
    while value.startswith("--"):
        flag, _, value = value.partition(" ")
        value = value.lstrip()
        if not flag.startswith(HARMLESS_FLAGS):
            raise DockerfileError(f"Dockerfile line {line}: COPY {flag} is not served")
    *sources, destination = _words(value, line) or [""]
    if not sources:
        raise DockerfileError(f"Dockerfile line {line}: COPY needs a source and a destination")
    root = next((name for name in TASK_ROOT_NAMES if destination == name or destination.startswith(name + "/")), None)
    if root is None:
        raise DockerfileError(f"Dockerfile line {line}: COPY to {destination}; only ${{LAMBDA_TASK_ROOT}} is served")
    inside = destination[len(root):].strip("/")
    matched = []
    for source in sources:
        if Path(source).is_absolute() or ".." in Path(source).parts:
            raise DockerfileError(f"Dockerfile line {line}: {source} is outside the build context")
        found = sorted(context.glob(source.rstrip("/"))) if any(c in source for c in "*?[") else [context / source]
        found = [path for path in found if path.exists()]
        if not found:
            raise DockerfileError(f"Dockerfile line {line}: {source} matches no file in the build context")
        found = [path for path in found if _sent(path, context, sent)]
        if not found:
            raise DockerfileError(f"Dockerfile line {line}: {source} is left out of the build context by "
                                  ".dockerignore, so docker build stops here")
        matched += found
    into_folder = destination.endswith("/") or len(matched) > 1
    if len(matched) > 1 and not destination.endswith("/"):
        raise DockerfileError(f"Dockerfile line {line}: several sources need a destination ending in /")
    return [Copy(path, f"{inside}/{path.name}".lstrip("/") if into_folder and path.is_file() else inside)
            for path in matched]


def _sent(path: Path, context: Path, sent: frozenset[str]) -> bool:
    """Whether the build context holds the file, or a file under the folder."""
    relative = path.relative_to(context).as_posix()
    return relative in sent or any(name.startswith(relative + "/") for name in sent)


def _handler(value: str, line: int) -> str:
    if not value.lstrip().startswith("["):
        raise DockerfileError(f"Dockerfile line {line}: CMD must be a JSON array naming the handler")
    words = _words(value, line)
    if len(words) != 1:
        raise DockerfileError(f"Dockerfile line {line}: CMD must name exactly one handler, as module.function")
    return words[0]
