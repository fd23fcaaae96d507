"""`make serve` reads the Dockerfile as Docker would, within a strict subset, and refuses the rest clearly."""

import itertools
import re
import socket
import subprocess
import sys

import pytest

from scripts.dockerfile import Copy, DockerfileError, read_image
from scripts.lambda_image import UNUSED_RUNTIME_FILES, build_task_root
from scripts.ports import free_port
from tests.conftest import ROOT


def image_of(tmp_path, text: str, files=("a.py", "b.py", "model.tflite", "pkg/__init__.py", "pkg/m.py")):
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"# {name}\n")
    (tmp_path / "Dockerfile").write_text("FROM public.ecr.aws/lambda/python:3.13\n" + text)
    return read_image(tmp_path / "Dockerfile")


def test_the_projects_dockerfile_gives_its_files_and_the_handler_of_its_cmd():
    image = read_image(ROOT / "Dockerfile")
    assert image.handler == "lambda_function.lambda_handler"
    assert {copy.destination for copy in image.copies} >= {
        "lambda_function.py", "clothing_model.tflite", "clothing_model.json", "clothing_model.reference.json",
        "clothing", "requirements.txt"}


def test_continuations_json_form_globs_and_destinations_are_honoured(tmp_path):
    image = image_of(tmp_path, 'COPY a.py \\\n     b.py ${LAMBDA_TASK_ROOT}/\n'
                               'COPY ["model.tflite", "${LAMBDA_TASK_ROOT}/models/clothing.tflite"]\n'
                               'COPY --chown=1000 pk? ${LAMBDA_TASK_ROOT}/lib/\n'
                               'CMD ["app.handle"]\n')
    assert image.copies == [Copy(tmp_path / "a.py", "a.py"), Copy(tmp_path / "b.py", "b.py"),
                            Copy(tmp_path / "model.tflite", "models/clothing.tflite"),
                            Copy(tmp_path / "pkg", "lib")]
    assert image.handler == "app.handle"
    task = build_task_root(image, tmp_path / "task")
    assert sorted(p.relative_to(task).as_posix() for p in task.rglob("*.py")) == [
        "a.py", "b.py", "lib/__init__.py", "lib/m.py"]  # a folder's contents, as Docker copies them
    assert (task / "models" / "clothing.tflite").read_text() == "# model.tflite\n"


@pytest.mark.parametrize(("text", "message"), [
    ("COPY --from=builder /app ${LAMBDA_TASK_ROOT}/\nCMD [\"a.h\"]\n", "COPY --from=builder is not served"),
    ("ADD a.py ${LAMBDA_TASK_ROOT}/\nCMD [\"a.h\"]\n", "line 2: ADD is not served"),
    ("COPY a.py /opt/\nCMD [\"a.h\"]\n", "only ${LAMBDA_TASK_ROOT} is served"),
    ("COPY missing.py ${LAMBDA_TASK_ROOT}/\nCMD [\"a.h\"]\n", "missing.py matches no file"),
    ("COPY ../secret ${LAMBDA_TASK_ROOT}/\nCMD [\"a.h\"]\n", "outside the build context"),
    ("COPY a.py b.py ${LAMBDA_TASK_ROOT}/x\nCMD [\"a.h\"]\n", "destination ending in /"),
    ("COPY a.py ${LAMBDA_TASK_ROOT}/\nCMD a.handler\n", "CMD must be a JSON array"),
    ("COPY a.py ${LAMBDA_TASK_ROOT}/\n", "no CMD"),
    ("COPY a.py ${LAMBDA_TASK_ROOT}/\nFROM scratch\nCMD [\"a.h\"]\n", "multi-stage"),
])
def test_what_make_serve_cannot_reproduce_is_refused_with_its_line(tmp_path, text, message):
    with pytest.raises(DockerfileError, match=message.replace("$", r"\$").replace("{", r"\{").replace("[", r"\[")):
        image_of(tmp_path, text)


@pytest.mark.process
@pytest.mark.parametrize("option", ["--port", "--api-port"])
def test_a_second_server_on_a_busy_port_is_refused_in_one_line(option):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ports = {"--port": str(free_port()), "--api-port": str(free_port())} | {option: str(port)}
        result = subprocess.run([sys.executable, str(ROOT / "scripts" / "serve.py"), *itertools.chain(*ports.items())],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith(f"port {port} is in use") and len(result.stderr.splitlines()) == 1
    assert ("API_PORT=" in result.stderr) == (option == "--api-port")


def test_the_image_deletes_the_same_unused_runtime_files_as_make_serve():
    run_lines = [line for line in (ROOT / "Dockerfile").read_text().split("RUN ") if "rm -r" in line]
    [trim] = run_lines
    deleted = set(re.findall(r'"\$site/([^"]+)"', trim))
    assert deleted == set(UNUSED_RUNTIME_FILES)


def test_a_copy_source_that_dockerignore_leaves_out_is_refused_as_docker_build_would(tmp_path):
    """make serve serves the build context docker-py sends (sam build's client), not the working tree."""
    (tmp_path / ".dockerignore").write_text("# only the code\n*\n!a.py\n!pkg/\npkg/m.py\n")
    with pytest.raises(DockerfileError, match="model.tflite is left out of the build context by .dockerignore"):
        image_of(tmp_path, 'COPY a.py model.tflite ${LAMBDA_TASK_ROOT}/\nCMD ["a.h"]\n')
    image = image_of(tmp_path, 'COPY a.py ${LAMBDA_TASK_ROOT}/\nCOPY pkg/ ${LAMBDA_TASK_ROOT}/pkg/\nCMD ["a.h"]\n')
    task = build_task_root(image, tmp_path / "task")
    assert sorted(p.relative_to(task).as_posix() for p in task.rglob("*.py")) == ["a.py", "pkg/__init__.py"]
