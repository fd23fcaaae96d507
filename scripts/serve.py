"""Serve the function under the real Lambda Runtime Interface Emulator, as its image would.

    python scripts/serve.py [--port 8080] [--api-port 3000] [--memory MB]

Builds a task folder (``build/task-<port>``, one per server) from exactly the
files the Dockerfile copies, and an environment with exactly
``requirements.txt`` plus the runtime interface client the base image carries,
so a file missing from COPY or a package missing from the requirements fails
here as it would on Lambda. Then it hands over to the emulator (taken from the
aws-sam-cli wheel), running the handler the Dockerfile's CMD names, with a
clean environment that passes on only the variables the function reads.
With ``--memory`` (``MEMORY=<MB> make serve``) it runs under the CPU share and
memory limit Lambda gives at that size (``scripts/limits.py``). In front of
it, template.yaml's API answers on ``--api-port`` as API Gateway would
(``scripts/gateway.py``).
"""

import argparse
import compileall
import hashlib
import importlib.metadata
import os
import platform
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from clothing.settings import ENVIRONMENT_PREFIXES, ENVIRONMENT_VARIABLES  # noqa: E402
from scripts import limits  # noqa: E402
from scripts.dockerfile import DockerfileError, Image, read_image  # noqa: E402

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
    """The files the Dockerfile copies, compiled to bytecode as its ``compileall`` step does."""
    shutil.rmtree(task_root, ignore_errors=True)
    task_root.mkdir(parents=True)
    for copy in image.copies:
        target = task_root / copy.destination
        if copy.source.is_dir():
            shutil.copytree(copy.source, target, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(copy.source, target)
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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float) -> None:
    """Return once something listens on ``port``; raise if ``process`` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the emulator exited with {process.returncode} before listening on {port}")
        if is_listening(port):
            return
        time.sleep(0.002)
    raise TimeoutError(f"the emulator did not listen on {port} within {timeout} s")


def is_listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def announce(handler: str, function_url: str, api_port: int, timeout: float = 60) -> None:
    """Print the function's and the API's addresses once the API listens too."""
    deadline = time.monotonic() + timeout
    while not is_listening(api_port) and time.monotonic() < deadline:
        time.sleep(0.01)
    print(f"serving {handler} on {function_url}/2015-03-31/functions/function/invocations", flush=True)
    print(f"the API on http://127.0.0.1:{api_port}/predict, its page on http://127.0.0.1:{api_port}/", flush=True)


def emulator_command(port: int, runtime_api_port: int, handler: str) -> list[str]:
    return [
        str(EMULATOR),
        "--runtime-interface-emulator-address", f"127.0.0.1:{port}",
        "--runtime-api-address", f"127.0.0.1:{runtime_api_port}",
        str(RUNTIME_VENV / "bin" / "python"), "-m", "awslambdaric", handler,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8080)))
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("API_PORT", 3000)),
                        help="where template.yaml's API (POST /predict, GET /) listens, as sam local start-api")
    parser.add_argument("--memory", type=int, default=int(os.environ.get("MEMORY") or 0),
                        help="MB: run under Lambda's CPU share and memory limit for this size (default: no limits)")
    parser.add_argument("--runtime-api-port", type=int, default=0,
                        help="where the emulator serves the Lambda runtime API to the function (default: a free port)")
    args = parser.parse_args()
    for port, variable in ((args.port, "PORT"), (args.api_port, "API_PORT")):
        if is_listening(port):
            raise SystemExit(f"port {port} is in use, perhaps by another make serve: "
                             f"try {variable}={free_port()} make serve")
    try:
        image = read_image(DOCKERFILE)
    except DockerfileError as error:
        raise SystemExit(f"make serve: {error}") from None
    task_root = build_task_root(image, BUILD / f"task-{args.port}")
    build_runtime_venv()
    fetch_emulator()
    command = emulator_command(args.port, args.runtime_api_port or free_port(), image.handler)
    emulator = subprocess.Popen(command, cwd=task_root,
                                env=function_environment(task_root, args.memory or DEFAULT_MEMORY_MB))
    try:
        if args.memory:  # before the first request: the emulator starts the function only then
            try:
                print(limits.enter(args.memory, f"clothing-serve-{args.port}", emulator.pid), flush=True)
            except limits.LimitsUnavailable as error:
                print(f"serving without Lambda's limits for {args.memory} MB: {error}", flush=True)
        wait_for_port(args.port, emulator, timeout=60)
        function_url = f"http://127.0.0.1:{args.port}"
        # The addresses once both answer, so that a script may start right after them.
        threading.Thread(target=announce, args=(image.handler, function_url, args.api_port), daemon=True).start()
        from scripts import gateway  # SAM's service takes 2 s to import: only when serving

        gateway.serve(function_url, args.api_port, os.environ.get("API_KEY") or None)
    finally:
        emulator.terminate()
        emulator.wait()
        shutil.rmtree(task_root, ignore_errors=True)  # 8 MB a port otherwise


if __name__ == "__main__":
    main()
