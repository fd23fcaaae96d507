"""What every conversion test shares, importing no framework: the command, and the function serving its result.

TensorFlow and PyTorch cannot share a process (each brings its own LLVM), and they live in two environments:
Keras and ONNX convert in the conversion environment (no torch), ``.pt2`` in the training one (where torch is),
and the ONNX tests make their models with torch. Each test runs the command as ``make convert`` would, in a
fresh process of the right environment, and the result is served by ``lambda_handler`` in the serving
environment, as users run it.
"""

import json
import os
import select
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
PICTURES = sorted((ROOT / "tests" / "images").glob("*.jpg"))
CONVERT_PYTHON = Path(os.environ.get("CONVERT_PYTHON", ROOT / "conversion" / ".venv" / "bin" / "python"))
SERVE_PYTHON = Path(os.environ.get("SERVE_PYTHON", ROOT / ".venv" / "bin" / "python"))


def python_of(path: Path) -> str:
    if not path.exists():
        pytest.fail(f"{path} is missing: `make test` builds the environments these tests run in")
    return str(path)


# Runs `python -m <module> <arguments>` in a child forked from a process that has imported TensorFlow and Keras
# and nothing else: a fresh process of the command, but for the three seconds of CPU that importing TensorFlow
# takes, paid once a test session rather than once a conversion. TensorFlow has run no operation in the parent,
# so the child starts its runtime as a fresh process does.
FORK_SERVER = """
import json, os, runpy, sys, traceback, warnings
warnings.simplefilter("ignore", DeprecationWarning)  # fork() beside TensorFlow's idle native thread
import tensorflow, keras
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        for fd, name in ((1, "stdout"), (2, "stderr")):
            os.dup2(os.open(request[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
        sys.argv = [request["module"], *request["arguments"]]
        code = 0
        try:
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 1
            if not isinstance(stop.code, (int, type(None))):
                print(stop.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    print(json.dumps(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])), flush=True)
"""
_fork_servers: dict[str, subprocess.Popen] = {}


def fork_server(python: str) -> subprocess.Popen:
    if python not in _fork_servers or _fork_servers[python].poll() is not None:
        _fork_servers[python] = subprocess.Popen([python, "-c", FORK_SERVER], cwd=ROOT, stdin=subprocess.PIPE,
                                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return _fork_servers[python]


def run_convert(*arguments, python: str | None = None, module: str = "conversion.convert",
                timeout: float = 600) -> subprocess.CompletedProcess:
    """The command, in the conversion environment unless ``python`` says otherwise (``sys.executable``: this one,
    run as a plain fresh process)."""
    command = [python or python_of(CONVERT_PYTHON), "-m", module, *map(str, arguments)]
    if python is not None:
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    server = fork_server(command[0])
    with tempfile.TemporaryDirectory() as folder:
        out, err = Path(folder) / "stdout", Path(folder) / "stderr"
        server.stdin.write(json.dumps({"module": module, "arguments": command[3:], "stdout": str(out),
                                       "stderr": str(err)}) + "\n")
        server.stdin.flush()
        if not select.select([server.stdout], [], [], timeout)[0]:
            server.kill()
            raise subprocess.TimeoutExpired(command, timeout)
        answer = server.stdout.readline()
        if not answer:
            pytest.fail(f"the fork server of {command[0]} stopped with status {server.wait()}")
        returncode = json.loads(answer)
        return subprocess.CompletedProcess(command, returncode, out.read_text(), err.read_text())


def inspected(*paths, python: str | None = None) -> list[dict[str, str]]:
    """make inspect's fields for each model."""
    results = [run_convert(path, module="conversion.inspect_model", python=python) for path in paths]
    for result in results:
        assert result.returncode == 0, result.stderr
    return [dict(line.split(": ", 1) for line in result.stdout.strip().splitlines()) for result in results]


SERVE = """
import base64, json, sys
import lambda_function
answers = [lambda_function.lambda_handler({"image": base64.b64encode(open(p, "rb").read()).decode()}, None)
           for p in sys.argv[1:]]
print(json.dumps(answers))
"""


def served(model_path, pictures=PICTURES) -> list[dict]:
    """The function's answers for ``pictures``, from a fresh process of the serving environment on ``model_path``."""
    env = {"PATH": os.environ["PATH"], "MODEL_PATH": str(model_path)}
    result = subprocess.run([python_of(SERVE_PYTHON), "-c", SERVE, *map(str, pictures)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])
