"""The tests' kinds (pyproject.toml's markers): a test with no marker is a unit test, held to that by
tests/conftest.py, so that ``make test-unit`` runs in seconds with no process, server or socket."""

import socket
import subprocess
import sys

import pytest


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
