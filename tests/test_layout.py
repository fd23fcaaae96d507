"""Tests are chosen by pyproject.toml's markers alone. Their kinds: a test with no marker is a unit test, held to
that by tests/conftest.py, so that ``make test-unit`` runs in seconds with no process, server or socket. Their
environments: each run reads its own modules and no other's (conftest.py)."""

import ast
import importlib.util
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The root conftest.py, which decides what each environment's run reads (pytest loads it under its own name).
spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
chooser = importlib.util.module_from_spec(spec)
spec.loader.exec_module(chooser)
FRAMEWORKS = {"keras": {"keras", "tensorflow"}, "onnx": {"onnx", "onnxruntime", "torch"}, "training": {"torch"}}


def test_a_unit_test_can_neither_start_a_process_nor_open_a_socket():
    with pytest.raises(AssertionError, match="mark it process-level"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)
    with socket.socket() as sock, pytest.raises(AssertionError, match="mark it process-level"):
        sock.bind(("127.0.0.1", 0))


@pytest.mark.process
def test_a_process_level_test_may():
    assert subprocess.run([sys.executable, "-c", "pass"], check=False).returncode == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        assert sock.getsockname()[1] > 0


def test_asking_for_a_server_marks_a_test_process_level(request, image_server):
    assert request.node.get_closest_marker("process") is not None
    assert image_server.startswith("http://127.0.0.1:")


def test_a_library_lookup_by_a_lazy_import_is_no_process_of_the_test():
    import ctypes.util

    assert ctypes.util.find_library("pthread") or ctypes.util.find_library("c")


def module_files() -> list:
    return sorted(path for pattern in ("tests/test_*.py", "*/tests/test_*.py") for path in ROOT.glob(pattern))


def imported_packages(source: str) -> set[str]:
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_a_module_that_imports_a_framework_is_marked_for_an_environment_that_has_it():
    for path in module_files():
        source = path.read_text()
        frameworks = imported_packages(source) & set().union(*FRAMEWORKS.values())
        marked = chooser.environments_of(source)
        name = path.relative_to(ROOT)
        assert not frameworks or marked, f"{name} imports {sorted(frameworks)}: mark it keras, onnx or training"
        for environment in marked:
            assert frameworks <= FRAMEWORKS[environment], f"{name} is marked {environment}"


def test_the_marker_is_read_from_pytestmark_alone():
    assert chooser.environments_of("import pytest\npytestmark = pytest.mark.keras\n") == {"keras"}
    marks = "pytestmark = [pytest.mark.training, pytest.mark.filterwarnings('x')]"
    assert chooser.environments_of(marks) == {"training"}
    assert chooser.environments_of("import pytest\n\n@pytest.mark.keras\ndef test_x(): pass\n") == set()
    assert chooser.environments_of("pytestmark = pytest.mark.process\n") == set()


@pytest.mark.parametrize(("markexpr", "module", "read"), [
    ("", set(), True),
    ("not limits and not arm64", set(), True),
    ("limits", set(), True),
    ("", {"keras"}, False),
    ("not limits and not arm64", {"training"}, False),
    ("keras", {"keras"}, True),
    ("keras", {"onnx"}, False),
    ("keras", set(), False),
    ("training and not process", {"training"}, True),
])
def test_a_module_is_read_by_the_runs_that_name_its_environment_and_no_other(markexpr, module, read):
    assert chooser.reads(frozenset(module), chooser.environments_selected(markexpr)) is read


@pytest.mark.process
def test_the_serving_run_collects_every_serving_test_and_reads_no_framework_module():
    listed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stdout[-2000:]
    collected = [line for line in listed.stdout.splitlines() if "::" in line]
    assert {line.split("::")[0] for line in collected} == {
        str(path.relative_to(ROOT)) for path in module_files() if not chooser.environments_of(path.read_text())}
