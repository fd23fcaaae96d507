"""`python3 -m scripts.environment DIR`: makes one of the project's Python environments, as its row below says.

Each environment is made from nothing (an old one is cleared), then marked ready with ``DIR/.ready`` for make.
uv makes and fills them several times faster than pip, from one cache that it hard-links into each of them (each
still has its pip); ``UV`` names it, and an empty ``UV`` means pip alone, after which each new environment's files
are hard-linked to the identical ones of those made before it (util-linux's ``hardlink``), so that all of them
stay under 4 GB. Neither compiles bytecode at install: Python writes it as a module is first imported. Only the
standard library is used: this runs before any environment exists.
"""

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PIP_FLAGS = ("--quiet", "--disable-pip-version-check", "--no-compile")
UV_VERSION = "0.13.9"


@dataclass(frozen=True)
class Environment:
    python: str  # the variable naming its interpreter: PYTHON (3.13) or TRAIN_PYTHON (3.11)
    requirements: tuple[str, ...] = ()
    no_deps: str = ""  # pinned in full already, installed as they are
    unused: tuple[str, ...] = ()  # folders of site-packages nothing here uses
    torch_first: bool = False
    packages: tuple[str, ...] = ()  # installed by pip, never uv
    why: str = ""


ENVIRONMENTS = {
    "build/uv": Environment("PYTHON", packages=(f"uv=={UV_VERSION}",), why="uv itself, where none is on the PATH"),
    ".venv": Environment("PYTHON", ("requirements-dev.txt",), why="the function, its tests and tools"),
    "conversion/.venv": Environment(
        "PYTHON", ("conversion/requirements.txt",), no_deps="conversion/requirements-nodeps.txt",
        # TensorFlow's C++ headers are for compiling operators of one's own, which no conversion does.
        unused=("tensorflow/include",), why="TensorFlow, for make convert and the Keras tests"),
    "build/gcf-venv": Environment("PYTHON", ("requirements.txt", "platforms/gcf/requirements.txt"),
                                  why="the Google function, installed as Google installs it"),
    # checkov's many dependencies would fight aws-sam-cli's pins.
    "build/checkov-venv": Environment("PYTHON", ("requirements-checkov.txt",), why="checkov"),
    "training/.venv": Environment(
        "TRAIN_PYTHON", ("training/requirements.txt",), torch_first=True,
        # PyTorch's own C++ test programs and headers: nothing here runs them or builds C++ against torch.
        unused=("torch/test", "torch/include"), why="torch, for training and ONNX conversion"),
}
VERSIONS = {"PYTHON": "3.13", "TRAIN_PYTHON": "3.11"}
# Made by scripts/arm64.py, from the same wheels.
LINKED_TOO = ("build/arm64",)


class Refused(Exception):
    pass


def run(*command: str) -> None:
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True)


def interpreter(variable: str) -> str:
    version = VERSIONS[variable]
    python = os.environ.get(variable) or f"python{version}"
    if not shutil.which(python):
        raise Refused(f"needs Python {version}, and {python} is not there: install it (pyenv install {version}, "
                      f"uv python install {version}, or your system's python{version} package), "
                      f"or set {variable}=/path/to/python{version}")
    return python


def install_torch(pip: str, requirements: str) -> None:
    """torch from PyTorch's own index of CPU builds (TORCH_INDEX): PyPI's Linux torch is the CUDA build, 3 GB of
    CUDA libraries and triton that nothing here uses. Where that index cannot be reached, from PyPI's index as
    pip is configured (on this project's machines, a CPU build on disk)."""
    torch = next(line.strip() for line in Path(requirements).read_text().splitlines() if line.startswith("torch=="))
    index = os.environ.get("TORCH_INDEX") or "https://download.pytorch.org/whl/cpu"
    command = (pip, "install", *PIP_FLAGS, "--retries", "0", "--timeout", "10", "--index-url", index, torch)
    print(" ".join(command), flush=True)
    if subprocess.run(command, stderr=subprocess.DEVNULL).returncode:
        print(f"{index} cannot be reached; torch comes from PyPI's index as pip is configured", flush=True)
        run(pip, "install", *PIP_FLAGS, torch)


def make(folder: str) -> None:
    environment = ENVIRONMENTS[folder]
    python, uv = interpreter(environment.python), os.environ.get("UV", "")
    by_uv = bool(uv) and not environment.packages and not environment.torch_first
    if by_uv:
        run(uv, "venv", "--quiet", "--clear", "--seed", "--python", python, folder)
    else:
        run(python, "-m", "venv", "--clear", folder)
    pip = f"{folder}/bin/pip"
    if environment.packages:
        run(pip, "install", *PIP_FLAGS, *environment.packages)
        return
    if environment.torch_first:
        install_torch(pip, environment.requirements[0])
    if uv:
        install = (uv, "pip", "install", "--quiet", "--python", f"{folder}/bin/python")
    else:
        install = (pip, "install", *PIP_FLAGS)
    run(*install, *(part for requirements in environment.requirements for part in ("-r", requirements)))
    if environment.no_deps:
        run(*install, "--no-deps", "-r", environment.no_deps)
    for unused in environment.unused:
        for path in Path(folder).glob(f"lib/python3*/site-packages/{unused}"):
            shutil.rmtree(path)
    if not uv and shutil.which("hardlink"):
        made = [name for name in (*ENVIRONMENTS, *LINKED_TOO) if name != "build/uv" and Path(name).is_dir()]
        run("hardlink", "-q", "-t", *made)
    Path(folder, ".ready").touch()


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ENVIRONMENTS:
        rows = "\n".join(f"  {name:20} {environment.why}" for name, environment in ENVIRONMENTS.items())
        print(f"usage: python3 -m scripts.environment DIR, one of:\n{rows}", file=sys.stderr)
        return 2
    try:
        make(argv[0])
    except Refused as refusal:
        print(f"make: {refusal}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as failure:
        print(f"make: {argv[0]} was not made: {failure.cmd[0]} failed with status {failure.returncode}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
