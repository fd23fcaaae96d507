"""Enough of Docker Engine's HTTP API (https://docs.docker.com/reference/api/engine/) for ``sam build`` to build
an image function against it, on 127.0.0.1: it records each build request and answers ``image inspect`` with
the architecture that build asked for.

No Docker engine runs here; this stands in for one as far as SAM CLI's docker client talks to it: ``/_ping``,
``/version``, ``POST /build`` (the build context arrives as a tar stream, the platform as a query parameter) and
``GET /images/{name}/json``.

Like Docker, it reads the build context it is sent (a tar, gzipped or not) and fails the build when a COPY
source is not in it, so a test that runs the real ``sam build`` sees what ``.dockerignore`` leaves out.
"""

import io
import json
import re
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from scripts.dockerfile import DockerfileError, read_image

API_VERSION = "1.45"


class DockerEngine(ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), EngineHandler)
        self.builds: list[dict[str, str]] = []  # each build's query parameters
        self.contexts: list[list[str]] = []  # the files of each build's context, as sent
        self.images: dict[str, str] = {}  # tag -> architecture, as inspect reports it

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.server_address[1]}"


class EngineHandler(BaseHTTPRequestHandler):
    server: DockerEngine

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def answer(self, status: int, body: bytes | dict | list, content_type: str = "application/json") -> None:
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def path_without_version(self) -> str:
        return re.sub(r"^/v[0-9.]+", "", urlparse(self.path).path)

    def do_HEAD(self):  # noqa: N802 - http.server's name
        self.do_GET()

    def do_GET(self):  # noqa: N802
        path = self.path_without_version()
        if path == "/_ping":
            self.answer(200, b"OK", "text/plain")
        elif path == "/version":
            self.answer(200, {"ApiVersion": API_VERSION, "MinAPIVersion": "1.24", "Version": "27.0.0",
                              "Os": "linux", "Arch": "amd64"})
        elif path == "/info":
            self.answer(200, {"OSType": "linux", "Architecture": "x86_64", "Name": "stand-in"})
        elif match := re.fullmatch(r"/images/(.+)/json", path):
            name = unquote(match.group(1))
            if name in self.server.images:
                self.answer(200, {"Id": f"sha256:{name}", "RepoTags": [name],
                                  "Os": "linux", "Architecture": self.server.images[name]})
            else:
                self.answer(404, {"message": f"No such image: {name}"})
        else:
            self.answer(404, {"message": f"page not found: {path}"})

    def do_POST(self):  # noqa: N802
        path = self.path_without_version()
        if path != "/build":
            self.answer(404, {"message": f"page not found: {path}"})
            return
        body = self.read_body()
        query = {key: values[-1] for key, values in parse_qs(urlparse(self.path).query).items()}
        self.server.builds.append(query)
        problem = self.read_context(body, query.get("dockerfile", "Dockerfile"))
        if problem:  # as BuildKit's COPY fails: the stream carries the error, docker-py raises BuildError
            self.answer(200, json.dumps({"errorDetail": {"message": problem}, "error": problem}).encode() + b"\r\n")
            return
        platform = query.get("platform", "linux/amd64")
        image_id = f"{len(self.server.builds):012x}"
        self.server.images[query["t"]] = self.server.images[image_id] = platform.split("/")[1]
        # docker-py finds the new image by the id in "Successfully built", as the classic builder prints it
        lines = [{"stream": f"Step 1/1 : FROM base ({platform})\n"}, {"stream": f"Successfully built {image_id}\n"},
                 {"stream": f"Successfully tagged {query['t']}\n"}]
        self.answer(200, b"".join(json.dumps(line).encode() + b"\r\n" for line in lines))

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length", 0)))
        chunks = []
        while size := int(self.rfile.readline().strip() or b"0", 16):
            chunks.append(self.rfile.read(size))
            self.rfile.read(2)
        self.rfile.readline()
        return b"".join(chunks)

    def read_context(self, body: bytes, dockerfile: str) -> str | None:
        """Unpacks the context and reads its Dockerfile's COPYs there: what fails, or None."""
        with tarfile.open(fileobj=io.BytesIO(body)) as context, tempfile.TemporaryDirectory() as folder:
            self.server.contexts.append(sorted(context.getnames()))
            context.extractall(folder, filter="data")
            try:
                read_image(Path(folder) / dockerfile)
            except DockerfileError as error:
                return f"COPY failed: {error}"
        return None


@contextmanager
def docker_engine() -> Iterator[DockerEngine]:
    engine = DockerEngine()
    thread = threading.Thread(target=engine.serve_forever, daemon=True)
    thread.start()
    try:
        yield engine
    finally:
        engine.shutdown()
        engine.server_close()
