"""The folder Google Cloud Functions or Azure Functions deploys, made from the files the Lambda image holds.

    python -m scripts.package gcf      # build/gcf/: main.py, clothing/, the model, requirements.txt
    python -m scripts.package azure    # build/azure/: function_app.py, host.json, clothing/, the model, ...

The code and the model come from the Dockerfile's own COPY lines
(``scripts/dockerfile.py``), less the Lambda entry, so the three platforms can
never ship different code or models. Each platform adds its entry file, any
files of its own from ``platforms/<name>/``, and a requirements.txt: the
function's pinned requirements followed by the platform's library, pinned.
"""

import argparse
import shutil
from pathlib import Path
from typing import NamedTuple

from scripts.dockerfile import read_image

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = "requirements.txt"


class Platform(NamedTuple):
    entry: str  # the file the platform loads, at the folder's top
    extras: tuple[str, ...] = ()  # more files from platforms/<name>/


PLATFORMS = {
    "gcf": Platform("main.py"),
    "azure": Platform("function_app.py", ("host.json",)),
}


def package(name: str, out: Path) -> list[str]:
    """Writes the platform's folder to ``out``, replacing it; returns the paths it holds, relative to it."""
    platform = PLATFORMS[name]
    image = read_image(ROOT / "Dockerfile")
    lambda_entry = image.handler.rsplit(".", 1)[0] + ".py"
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for copy in image.copies:
        if copy.destination in (lambda_entry, REQUIREMENTS):
            continue
        target = staging / copy.destination
        if copy.source.is_dir():
            shutil.copytree(copy.source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(copy.source, target)
    shutil.copy2(ROOT / platform.entry, staging / platform.entry)
    for extra in platform.extras:
        shutil.copy2(ROOT / "platforms" / name / extra, staging / extra)
    (staging / REQUIREMENTS).write_text(
        (ROOT / REQUIREMENTS).read_text() + "\n" + (ROOT / "platforms" / name / REQUIREMENTS).read_text())
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return sorted(str(path.relative_to(out)) for path in out.rglob("*") if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("platform", choices=sorted(PLATFORMS))
    parser.add_argument("--out", type=Path, help="default: build/<platform>")
    args = parser.parse_args()
    out = args.out or ROOT / "build" / args.platform
    files = package(args.platform, out)
    print(f"{out}: {len(files)} files, ready to deploy ({', '.join(f for f in files if '/' not in f)}, ...)")


if __name__ == "__main__":
    main()
