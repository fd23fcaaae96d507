"""Shared fixtures: real pictures, a real HTTP server on 127.0.0.1, real event payloads.

The function under test may fetch from 127.0.0.1 only because the tests set
ALLOW_PRIVATE_URLS before it is imported, as docs/configuration.md says local testing should.
"""

import base64
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

os.environ["ALLOW_PRIVATE_URLS"] = "true"

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
IMAGES = TESTS / "images"
EVENTS = ROOT / "events"
HUGE_BYTES = 20 * 1024 * 1024
# What the served model answers, in order: read from its settings file, as the function reads it.
LABELS = tuple(json.loads((ROOT / "clothing_model.json").read_text())["labels"])


def image_files() -> list[Path]:
    return sorted(IMAGES.glob("*.jpg"))


def label_of(path: Path) -> str:
    """``t-shirt-2.jpg`` → ``t-shirt``."""
    return path.stem.rsplit("-", 1)[0]


@dataclass
class FakeLambdaContext:
    """The attributes of Lambda's context object that the function reads."""

    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    function_name: str = "clothing-classifier"
    remaining_ms: int = 30_000
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:clothing-classifier"
    log_group_name: str = field(default="/aws/lambda/clothing-classifier")

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class ImageRequestHandler(BaseHTTPRequestHandler):
    """Pictures, redirects, a slow answer, a huge body and a web page, like the internet has."""

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        url = urlparse(self.path)
        parts = url.path.strip("/").split("/")
        query = parse_qs(url.query)
        if parts[0] == "images" and (IMAGES / parts[1]).is_file():
            return self._send(200, (IMAGES / parts[1]).read_bytes(), "image/jpeg")
        if parts[0] == "redirect":  # /redirect/<hops>/<picture>
            hops = int(parts[1])
            target = f"/redirect/{hops - 1}/{parts[2]}" if hops > 1 else f"/images/{parts[2]}"
            return self._redirect(target)
        if parts[0] == "redirect-to":  # /redirect-to?url=...
            return self._redirect(query["url"][0])
        if parts[0] == "slow":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            try:
                for _ in range(1000):
                    self.wfile.write(b"\xff")
                    self.wfile.flush()
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):  # the function gave up, as it should
                pass
            return None
        if parts[0] == "huge":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()
            chunk = b"\0" * 65536
            try:
                for _ in range(HUGE_BYTES // len(chunk)):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return None
        if parts[0] == "huge-declared":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(50 * 1024 * 1024))
            self.end_headers()
            return None
        if parts[0] == "page.html":
            return self._send(200, b"<html><body>not a picture</body></html>", "text/html")
        if parts[0] == "echo-host":
            return self._send(200, self.headers.get("Host", "").encode(), "text/plain")
        if parts[0] == "status":
            return self._send(int(parts[1]), b"failure", "text/plain")
        return self._send(404, b"not found", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str):
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextmanager
def in_background(server: socketserver.BaseServer) -> Iterator[str]:
    """``server`` answering from a thread, as its base URL, until the block ends."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# A test's kind, by what it needs (pyproject.toml's markers); a test with none of them is a unit test.
KINDS = ("process", "browser", "platform", "limits", "arm64")
# Fixtures that start a server: a test that asks for one is process-level, marked here rather than by hand.
SERVER_FIXTURES = {"image_server", "moto_endpoint", "served"}
LIBRARY_LOOKUP = os.path.join("ctypes", "util.py")


def pytest_collection_modifyitems(items):
    for item in items:
        if SERVER_FIXTURES & set(item.fixturenames):
            item.add_marker("process")


@pytest.fixture(autouse=True)
def _unit_tests_stay_in_process(request, monkeypatch):
    """A unit test starts no process and opens no socket: one that does fails, naming the marker it lacks."""
    if any(request.node.get_closest_marker(kind) for kind in KINDS):
        return

    def refusing(original):
        def refused(*args, **kwargs):
            # ctypes.util.find_library asks ldconfig or gcc where a library is, for a module imported lazily
            # (trio's, say): a lookup, not the test's own process.
            if any(frame.f_code.co_filename.endswith(LIBRARY_LOOKUP) for frame, _ in traceback.walk_stack(None)):
                return original(*args, **kwargs)
            raise AssertionError("a unit test started a process or opened a socket: mark it process-level "
                                 "(pytest.mark.process) or keep it in this process")
        return refused

    for owner, name in ((subprocess.Popen, "__init__"), (socket.socket, "connect"), (socket.socket, "bind")):
        monkeypatch.setattr(owner, name, refusing(getattr(owner, name)))


@pytest.fixture(scope="session")
def image_server():
    """Base URL of a real HTTP server on 127.0.0.1 serving the test pictures."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), ImageRequestHandler)
    server.daemon_threads = True
    with in_background(server) as url:
        yield url


AWS_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def moto_endpoint():
    """moto's server, AWS's APIs (S3, Lambda, Step Functions, CloudFormation) on 127.0.0.1, in a process of its
    own, spoken to by boto3 over HTTP."""
    from scripts.ports import free_port, wait_for_port

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                              env={**os.environ, "SF_EXECUTION_HISTORY_TYPE": "FAILURE"})  # runs end at once
    try:
        wait_for_port(port, server, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)


def aws_client(service: str, endpoint: str):
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


@dataclass
class Served:
    """What `make serve` started: the function under the real emulator, and the template's API before it."""

    function_url: str
    api_url: str
    process: subprocess.Popen


@contextmanager
def serving(**variables: str) -> Iterator[Served]:
    """`make serve`'s script on free ports, with ``variables`` added to its environment (MODEL_PATH, say)."""
    from scripts.ports import free_port, wait_for_port

    port, api_port = free_port(), free_port()
    env = {**os.environ, "ALLOW_PRIVATE_URLS": "true", "PORT": str(port), "API_PORT": str(api_port), **variables}
    env.pop("API_KEY", None)
    process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "serve.py")], env=env,
                               start_new_session=True)  # a free runtime API port: serve.py picks one
    try:
        wait_for_port(port, process, timeout=600)
        yield Served(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{api_port}", process)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
        shutil.rmtree(ROOT / "build" / f"task-{port}", ignore_errors=True)


@pytest.fixture(scope="session")
def served():
    """`make serve` as it starts; prints the time from the emulator listening to the first answer."""
    import requests

    from scripts.ports import wait_for_port

    with serving() as started:
        listening = time.monotonic()
        picture = base64.b64encode((IMAGES / "pants-1.jpg").read_bytes()).decode()
        first = requests.post(started.function_url + "/2015-03-31/functions/function/invocations",
                              json={"image": picture}, timeout=60)
        print(f"\nfirst answer {1000 * (time.monotonic() - listening):.0f} ms after the emulator listened "
              f"(status {first.status_code})")
        wait_for_port(int(started.api_url.rsplit(":", 1)[1]), started.process, timeout=60)
        yield started


@pytest.fixture
def context():
    return FakeLambdaContext()


def load_event(name: str) -> dict:
    """An API Gateway event generated by ``sam local generate-event`` (see events/README.md)."""
    return json.loads((EVENTS / name).read_text())
