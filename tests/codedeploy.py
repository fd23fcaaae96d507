"""A stand-in for CodeDeploy's one call a pre-traffic hook makes, PutLifecycleEventHookExecutionStatus, on
127.0.0.1 (moto does not implement it).

It speaks the protocol botocore's service model gives for CodeDeploy (JSON 1.1: a POST to ``/`` with
``X-Amz-Target: CodeDeploy_20141006.<operation>``, signed with Signature Version 4) and checks each request's
body against that model's input shape, so a request real CodeDeploy would refuse is refused here too, as
``ValidationException``. It records every accepted status.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.session
from botocore.validate import ParamValidator

from tests.conftest import in_background

MODEL = botocore.session.get_session().get_service_model("codedeploy")
OPERATION = MODEL.operation_model("PutLifecycleEventHookExecutionStatus")
TARGET = f"{MODEL.metadata['targetPrefix']}.{OPERATION.name}"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("X-Amz-Target") != TARGET:
            return self._send(400, {"__type": "UnknownOperationException"})
        if not self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 ") or \
                self.headers.get("Content-Type") != f"application/x-amz-json-{MODEL.metadata['jsonVersion']}":
            return self._send(400, {"__type": "InvalidSignatureException"})
        try:
            request = json.loads(body)
        except ValueError:
            return self._send(400, {"__type": "SerializationException"})
        report = ParamValidator().validate(request, OPERATION.input_shape)
        if report.has_errors():
            return self._send(400, {"__type": "ValidationException", "message": report.generate_report()})
        self.server.statuses.append(request)
        self._send(200, {"lifecycleEventHookExecutionId": request["lifecycleEventHookExecutionId"]})

    def _send(self, status: int, answer: dict) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def codedeploy() -> Iterator[ThreadingHTTPServer]:
    """The stand-in on a free port; ``.url`` to reach it, ``.statuses`` the requests it accepted."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.statuses = []
    with in_background(server) as url:
        server.url = url
        yield server
