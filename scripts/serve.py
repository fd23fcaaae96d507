"""Serve the function under the real Lambda Runtime Interface Emulator, as its image would.

    python scripts/serve.py [--port 8080] [--api-port 3000] [--memory MB]

Builds the function's task folder (``build/task-<port>``, one per server) and
its environment as the image holds them (``scripts/lambda_image.py``), then
hands over to the emulator, running the handler the Dockerfile's CMD names.
With ``--memory`` (``MEMORY=<MB> make serve``) it runs under the CPU share and
memory limit Lambda gives at that size (``scripts/limits.py``). In front of
it, template.yaml's API answers on ``--api-port`` as API Gateway would
(``scripts/gateway.py``).
"""

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts import limits  # noqa: E402
from scripts.dockerfile import DockerfileError, read_image  # noqa: E402
from scripts.lambda_image import (  # noqa: E402
    BUILD,
    DEFAULT_MEMORY_MB,
    DOCKERFILE,
    build_runtime_venv,
    build_task_root,
    emulator_command,
    fetch_emulator,
    function_environment,
)
from scripts.ports import free_port, is_listening, wait_for_port  # noqa: E402


def announce(handler: str, function_url: str, api_port: int, timeout: float = 60) -> None:
    """Print the function's and the API's addresses once the API listens too."""
    deadline = time.monotonic() + timeout
    while not is_listening(api_port) and time.monotonic() < deadline:
        time.sleep(0.01)
    print(f"serving {handler} on {function_url}/2015-03-31/functions/function/invocations", flush=True)
    print(f"the API on http://127.0.0.1:{api_port}/predict, its page on http://127.0.0.1:{api_port}/", flush=True)


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
