"""What the function's image holds, reproduced outside Docker: its task folder from exactly the files the
Dockerfile copies, its packages from exactly ``requirements.txt`` and the runtime interface client the base
image carries, the environment Lambda gives it, and the Runtime Interface Emulator that runs it (from the
aws-sam-cli wheel). A file missing from COPY or a package missing from the requirements fails here as it would
on Lambda.
"""

import compileall
import hashlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from clothing.settings import ENVIRONMENT_PREFIXES, ENVIRONMENT_VARIABLES
from scripts.dockerfile import Image

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
BUILD = ROOT / "build"
RUNTIME_VENV = BUILD / "runtime-venv"
EMULATOR = BUILD / "aws-lambda-rie"
# Installed files the function never opens (traced with strace while it starts and classifies): LiteRT's WebGPU
# accelerator, its command-line tools, vendor accelerator plugins, ahead-of-time compilers. The Dockerfile deletes
# the same ones; tests/test_dockerfile.py keeps the two lists alike.
UNUSED_RUNTIME_FILES = ("ai_edge_litert/libLiteRtWebGpuAccelerator.so", "ai_edge_litert/tools",
                        "ai_edge_litert/vendors", "ai_edge_litert/aot")


def pinned(package: str) -> str:
    """The ``package==version`` line that requirements-dev.txt pins."""
    for line in (ROOT / "requirements-dev.txt").read_text().splitlines():
        if line.split("==")[0].strip().lower() == package:
            return line.split("#")[0].strip()
    raise SystemExit(f"requirements-dev.txt does not pin {package}")


def build_task_root(image: Image, task_root: Path) -> Path:
    """The files the Dockerfile copies, as far as the build context holds them, compiled to bytecode as its
    ``compileall`` step does."""
    shutil.rmtree(task_root, ignore_errors=True)
    task_root.mkdir(parents=True)
    for copy in image.copies:
        files = [copy.source] if copy.source.is_file() else sorted(p for p in copy.source.rglob("*") if p.is_file())
        for source in files:
            if source.relative_to(image.folder).as_posix() in image.sent:
                target = task_root / copy.destination / source.relative_to(copy.source)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    compileall.compile_dir(task_root, quiet=1)
    return task_root


def build_runtime_venv() -> Path:
    """A virtualenv with requirements.txt and the runtime interface client, trimmed as the image is.

    boto3 too, which Lambda's base image carries and a catalog batch imports (clothing.catalog): the one
    requirements-dev.txt installs, which aws-sam-cli pins.
    """
    wanted = [pinned("awslambdaric"), f"boto3=={importlib.metadata.version('boto3')}"]
    stamp = hashlib.sha256(((ROOT / "requirements.txt").read_text() + str(wanted) + str(UNUSED_RUNTIME_FILES))
                           .encode()).hexdigest()
    stamp_file = RUNTIME_VENV / "requirements.sha256"
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        return RUNTIME_VENV
    shutil.rmtree(RUNTIME_VENV, ignore_errors=True)
    python = str(RUNTIME_VENV / "bin" / "python")
    # The Makefile's choice (UV: the uv it uses, empty for pip), else the uv on the PATH, else pip.
    if uv := os.environ.get("UV", shutil.which("uv")):
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(RUNTIME_VENV)], check=True)
        install = [uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", python]  # as pip compiles
    else:
        subprocess.run([sys.executable, "-m", "venv", str(RUNTIME_VENV)], check=True)
        install = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*install, "-r", str(ROOT / "requirements.txt"), *wanted], check=True)
    remove_unused(site_packages())
    stamp_file.write_text(stamp)
    return RUNTIME_VENV


def remove_unused(site: Path) -> None:
    """What the Dockerfile deletes from the installed packages; the aarch64 wheels lack some of it."""
    for unused in UNUSED_RUNTIME_FILES:
        path = site / unused
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def site_packages() -> Path:
    return next((RUNTIME_VENV / "lib").glob("python3*/site-packages"))


def fetch_emulator() -> Path:
    """The emulator binary, from the aws-sam-cli wheel that requirements-dev.txt pins."""
    if EMULATOR.exists():
        return EMULATOR
    wheels = BUILD / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--only-binary=:all:", "--dest", str(wheels), pinned("aws-sam-cli")],
        check=True,
    )
    arch = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    wheel = next(wheels.glob("aws_sam_cli-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        EMULATOR.write_bytes(archive.read(f"samcli/local/rapid/aws-lambda-rie-{arch}"))
    EMULATOR.chmod(0o755)
    return EMULATOR


DEFAULT_MEMORY_MB = 1769  # template.yaml's MemorySize default (a test keeps them alike), seen when none is given


def function_environment(task_root: Path, memory_mb: int = DEFAULT_MEMORY_MB) -> dict[str, str]:
    """A clean environment, like the image's, with the variables the function reads."""
    env = {
        "PATH": f"{RUNTIME_VENV / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(task_root),
        "PYTHONPATH": str(task_root),
        "AWS_LAMBDA_FUNCTION_NAME": "clothing-classifier",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_REGION": "us-east-1",
    }
    env.update({k: v for k, v in os.environ.items()
                if k in ENVIRONMENT_VARIABLES or k.startswith(ENVIRONMENT_PREFIXES)})
    return env


def emulator_command(port: int, runtime_api_port: int, handler: str) -> list[str]:
    return [
        str(EMULATOR),
        "--runtime-interface-emulator-address", f"127.0.0.1:{port}",
        "--runtime-api-address", f"127.0.0.1:{runtime_api_port}",
        str(RUNTIME_VENV / "bin" / "python"), "-m", "awslambdaric", handler,
    ]
