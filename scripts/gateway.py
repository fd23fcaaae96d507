"""template.yaml's REST API on this machine, in front of the function under the real emulator.

    python scripts/gateway.py --function-url http://127.0.0.1:8080 [--port 3000]

``make serve`` starts it beside the emulator. The HTTP side is the AWS SAM
CLI's own local API Gateway (``sam local start-api``): it turns each request
into the proxy event API Gateway sends, and the function's answer into the
HTTP response, with API Gateway's own errors (403 ``Missing Authentication
Token`` for a path or method the API lacks, 502 when the function fails).
SAM runs functions in Docker; here each event goes to the function already
running under the Lambda emulator. Three things SAM's service leaves out are
added: the routes and binary media types of plain ``AWS::ApiGateway``
resources, wildcards in binary media types (``image/*``), and API keys:
with ``API_KEY`` set, methods the template marks ``ApiKeyRequired`` answer
403 ``Forbidden`` unless the request's ``x-api-key`` header carries it. Two of
API Gateway's own answers are given as it gives them: 413 for a body over its
10 MB, and 500 for an event over Lambda's 6 MB invoke limit, which Lambda
refuses before the function runs ("Handling Lambda errors with an API Gateway
API"; Lambda's quotas page).
``GET /openapi.json`` serves the API's description, ``openapi.yaml``, as JSON.
"""

import argparse
import contextlib
import fnmatch
import hmac
import json
import os
import threading
import warnings
from pathlib import Path

import requests
import yaml
from flask import jsonify, make_response, request
from samcli.lib.providers.api_collector import ApiCollector
from samcli.lib.providers.cfn_api_provider import CfnApiProvider
from samcli.lib.providers.provider import Api
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
from samcli.local.apigw.local_apigw_service import LocalApigwService
from samcli.local.docker.exceptions import ProcessSigTermException

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
OPENAPI = ROOT / "openapi.yaml"
INVOCATIONS = "/2015-03-31/functions/function/invocations"
INTEGRATION_TIMEOUT_S = 29  # API Gateway's own limit for a Lambda integration
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload quota for a REST API
MAX_EVENT_BYTES = 6 * 1024 * 1024  # Lambda's quota for a synchronous invocation's payload


class InvocationRefused(Exception):
    """Lambda refuses the invocation before the function runs; API Gateway answers 500."""


class MediaTypes(list):
    """Binary media types that match as API Gateway's do: ``image/*`` covers ``image/jpeg``."""

    def __contains__(self, media_type: object) -> bool:
        return isinstance(media_type, str) and any(fnmatch.fnmatchcase(media_type.lower(), pattern.lower())
                                                   for pattern in self)


class RestApi(Api):
    """SAM's description of an API, with binary media types that match with wildcards."""

    @property
    def binary_media_types(self) -> MediaTypes:
        return MediaTypes(self.binary_media_types_set)


class EmulatorRunner:
    """What SAM's service calls to run a function: here, one POST to the emulator at a time, as one instance."""

    def __init__(self, function_url: str):
        self.url = function_url.rstrip("/") + INVOCATIONS
        self.lock = threading.Lock()

    def is_debugging(self) -> bool:
        return False

    def invoke(self, function_name, event, stdout, stderr=None, tenant_id=None) -> None:
        try:
            with self.lock:
                answer = requests.post(self.url, data=event, timeout=INTEGRATION_TIMEOUT_S).text
        except requests.RequestException as error:  # an error object: SAM's service answers 502
            answer = json.dumps({"errorType": "EmulatorUnreachable", "errorMessage": type(error).__name__})
        stdout.write_str(answer)


def load_api(template: Path = TEMPLATE, parameters: dict | None = None) -> tuple[Api, set[tuple[str, str]]]:
    """The REST API the template declares, and the (method, path) pairs that need an API key."""
    collector, provider = ApiCollector(), CfnApiProvider()
    with warnings.catch_warnings(action="ignore", category=DeprecationWarning):  # of SAM's own dependencies
        stacks, _ = SamLocalStackProvider.get_stacks(str(template), parameter_overrides=parameters or {})
        provider.extract_resources(stacks, collector, cwd=str(template.parent))
    keyed = set()
    for stack in stacks:
        for logical_id, resource in stack.resources.items():
            properties = resource.get("Properties", {})
            if resource["Type"] == "AWS::ApiGateway::RestApi":  # SAM reads these only from an OpenAPI body
                collector.add_binary_media_types(logical_id, properties.get("BinaryMediaTypes"))
            if resource["Type"] == "AWS::ApiGateway::Method" and properties.get("ApiKeyRequired") is True:
                parent = stack.resources.get(properties.get("ResourceId"))  # not a resource: the root
                path = provider.resolve_resource_path(stack.resources, parent, "") if parent else "/"
                keyed.add((properties["HttpMethod"], path))
    api = RestApi()
    api.__dict__.update(vars(collector.get_api()))
    return api, keyed


class Gateway(LocalApigwService):
    """SAM's local API Gateway, with API keys checked before the function runs."""

    def __init__(self, api: Api, keyed: set[tuple[str, str]], function_url: str, port: int,
                 api_key: str | None = None):
        super().__init__(api, EmulatorRunner(function_url), port=port, host="127.0.0.1")
        self.keyed, self.api_key = keyed, api_key

    def create(self):
        super().create()
        self._app.before_request(self._check_api_key)
        self._app.before_request(self._check_body_size)
        self._app.before_request(self._as_text)
        self._app.register_error_handler(InvocationRefused, lambda _: make_response(
            jsonify({"message": "Internal server error"}), 500))
        description = json.dumps(yaml.safe_load(OPENAPI.read_text()))
        self._app.add_url_rule("/openapi.json", "openapi", methods=["GET"],
                               view_func=lambda: make_response(description, 200, {"Content-Type": "application/json"}))
        return self._app

    def _as_text(self):
        """A body of a type that is not binary goes to the function as text, as API Gateway sends it: bytes
        that are not UTF-8 become U+FFFD (SAM's service would fail with a 502 of its own). So a picture sent
        with curl's default form type reaches the function, which says which type to send."""
        if request.mimetype in self.api.binary_media_types:
            return None
        data = request.get_data()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            request._cached_data = data.decode("utf-8", errors="replace").encode()
        return None

    def _invoke_lambda_function(self, lambda_function_name: str, event: dict, tenant_id=None):
        if len(json.dumps(event).encode()) > MAX_EVENT_BYTES:
            raise InvocationRefused
        return super()._invoke_lambda_function(lambda_function_name, event, tenant_id)

    def _check_body_size(self):
        length = request.content_length
        if length is None:
            length = len(request.get_data())
        if length > MAX_BODY_BYTES:
            return make_response(jsonify({"message": "Request Too Long"}), 413)
        return None

    def _check_api_key(self):
        rule = request.url_rule
        if not self.api_key or rule is None or (request.method, rule.rule) not in self.keyed:
            return None
        if hmac.compare_digest(request.headers.get("x-api-key", "").encode(), self.api_key.encode()):
            return None
        return make_response(jsonify({"message": "Forbidden"}), 403)


def serve(function_url: str, port: int, api_key: str | None = None) -> None:
    """Serve the template's API on ``port`` until interrupted."""
    api, keyed = load_api()
    service = Gateway(api, keyed, function_url, port, api_key)
    service.create()
    with contextlib.suppress(ProcessSigTermException):  # SAM's service turns SIGTERM into this: a normal stop
        service.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--function-url", required=True, help="the emulator's base URL")
    parser.add_argument("--port", type=int, default=int(os.environ.get("API_PORT", 3000)))
    args = parser.parse_args()
    serve(args.function_url, args.port, os.environ.get("API_KEY") or None)


if __name__ == "__main__":
    main()
