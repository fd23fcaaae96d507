"""The local API (`make serve`'s API_PORT): template.yaml's REST API in front of the function under the emulator."""

import base64
import json
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from werkzeug.serving import make_server

from scripts import gateway
from scripts.ports import free_port
from tests.conftest import IMAGES, LABELS, ROOT, in_background
from tests.test_deploy import SAM, SAM_ENV

INVOCATIONS = "/2015-03-31/functions/function/invocations"


def picture(name: str) -> bytes:
    return (IMAGES / name).read_bytes()


def direct_scores(served, name: str) -> dict:
    """The function's answer when invoked directly, as boto3 or the console would."""
    event = {"image": base64.b64encode(picture(name)).decode()}
    return requests.post(served.function_url + INVOCATIONS, json=event, timeout=60).json()


def test_a_json_post_gets_the_same_scores_as_a_direct_invocation(served, image_server):
    answer = requests.post(f"{served.api_url}/predict", json={"url": f"{image_server}/images/shirt-1.jpg"},
                           timeout=60)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == pytest.approx(direct_scores(served, "shirt-1.jpg"), abs=1e-6)
    assert list(answer.json()) == list(LABELS)


def test_a_raw_jpeg_body_arrives_as_binary_and_gets_the_same_scores(served):
    answer = requests.post(f"{served.api_url}/predict", data=picture("outwear-1.jpg"),
                           headers={"Content-Type": "image/jpeg"}, timeout=60)
    assert answer.status_code == 200
    assert answer.json() == pytest.approx(direct_scores(served, "outwear-1.jpg"), abs=1e-6)


@pytest.mark.parametrize(("method", "path"), [("GET", "/predict"), ("POST", "/"), ("POST", "/nothing"),
                                              ("DELETE", "/predict"), ("GET", "/test/predict")])
def test_a_path_or_method_the_api_lacks_gets_api_gateways_403(served, method, path):
    answer = requests.request(method, served.api_url + path, timeout=60)
    assert answer.status_code == 403
    assert answer.json() == {"message": "Missing Authentication Token"}


def test_the_functions_own_errors_and_statuses_pass_through(served):
    answer = requests.post(f"{served.api_url}/predict", data=b"not json", timeout=60)
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "BadRequest"
    refused = requests.post(f"{served.api_url}/predict", json={"url": "file:///etc/passwd"}, timeout=60)
    assert (refused.status_code, refused.json()["error"]["type"]) == (400, "UnsupportedScheme")
    not_a_picture = requests.post(f"{served.api_url}/predict", data=b"GIF89a but no more",
                                  headers={"Content-Type": "image/gif"}, timeout=60)
    assert (not_a_picture.status_code, not_a_picture.json()["error"]["type"]) == (422, "NotAnImage")


def test_a_picture_sent_with_curls_default_type_gets_a_400_that_names_the_type_to_send(served):
    """curl --data-binary @photo.jpg sends Content-Type: application/x-www-form-urlencoded."""
    answer = requests.post(f"{served.api_url}/predict", data=picture("hat-1.jpg"),
                           headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=60)
    assert answer.status_code == 400, answer.text
    message = answer.json()["error"]["message"]
    assert "Content-Type: image/jpeg" in message and "not 'application/x-www-form-urlencoded'" in message


def test_get_slash_serves_the_page_with_a_strict_policy(served):
    answer = requests.get(served.api_url + "/", timeout=60)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<title>Clothing classifier</title>" in answer.text
    policy = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'sha256-" in policy and "unsafe-inline" not in policy


def test_test_py_works_against_the_local_api(served):
    env = {"PATH": "/usr/bin:/bin", "API_URL": f"{served.api_url}/predict"}
    result = subprocess.run([sys.executable, str(ROOT / "test.py"), str(IMAGES / "skirt-1.jpg")], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert list(json.loads(result.stdout)) == list(LABELS)


def running(app):
    """A Flask app served from a thread, as its base URL, until the block ends."""
    return in_background(make_server("127.0.0.1", free_port(), app, threaded=True))


def test_with_api_key_set_predict_needs_it_and_the_page_does_not(served):
    api, keyed = gateway.load_api()
    assert keyed == {("POST", "/predict")}
    service = gateway.Gateway(api, keyed, served.function_url, 0, api_key="local-secret")
    with running(service.create()) as url:
        missing = requests.post(f"{url}/predict", data=picture("hat-1.jpg"), headers={"Content-Type": "image/jpeg"},
                                timeout=60)
        wrong = requests.post(f"{url}/predict", data=picture("hat-1.jpg"),
                              headers={"Content-Type": "image/jpeg", "x-api-key": "guess"}, timeout=60)
        right = requests.post(f"{url}/predict", data=picture("hat-1.jpg"),
                              headers={"Content-Type": "image/jpeg", "x-api-key": "local-secret"}, timeout=60)
        page = requests.get(url + "/", timeout=60)
        env = {k: v for k, v in os.environ.items() if k != "API_KEY"} | {"API_URL": f"{url}/predict"}
        told = subprocess.run([sys.executable, str(ROOT / "test.py"), str(IMAGES / "hat-1.jpg")], env=env,
                              capture_output=True, text=True, timeout=120)
    assert (missing.status_code, missing.json()) == (403, {"message": "Forbidden"})
    assert told.returncode == 1 and "the API wants its key: export API_KEY=" in told.stderr  # test.py says why
    assert (wrong.status_code, wrong.json()) == (403, {"message": "Forbidden"})
    assert right.status_code == 200 and list(right.json()) == list(LABELS)
    assert page.status_code == 200


class Recorder(BaseHTTPRequestHandler):
    """Stands where the emulator would, to keep the event the gateway sends; answers like the function."""

    events: list[dict] = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.events.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        body = json.dumps({"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def recorded_events():
    """The events the gateway sends for a JSON and a raw JPEG POST /predict."""
    Recorder.events.clear()
    api, keyed = gateway.load_api()
    recorder = in_background(ThreadingHTTPServer(("127.0.0.1", 0), Recorder))
    with recorder as function_url, running(gateway.Gateway(api, keyed, function_url, 0).create()) as url:
        requests.post(f"{url}/predict?size=large", json={"url": "https://example.com/a.jpg"}, timeout=60)
        requests.post(f"{url}/predict", data=picture("pants-1.jpg"), headers={"Content-Type": "image/jpeg"},
                      timeout=60)
    return list(Recorder.events)


def generated_event() -> dict:
    """API Gateway's event for this template's POST /predict, as `sam local generate-event` writes it."""
    result = subprocess.run([*SAM, "local", "generate-event", "apigateway", "aws-proxy", "--method", "POST",
                             "--path", "predict", "--resource", "/predict", "--stage", "test"],
                            env=SAM_ENV, capture_output=True, text=True, check=True, timeout=120)
    return json.loads(result.stdout)


@pytest.mark.process
def test_the_gateways_events_have_api_gateways_fields(recorded_events):
    expected = generated_event()
    for event in recorded_events:
        assert set(event) == set(expected)
        assert set(expected["requestContext"]) - {"requestTimeEpoch"} <= set(event["requestContext"])
        for key in ("resource", "path", "httpMethod"):
            assert event[key] == expected[key], key
        assert event["requestContext"]["stage"] == expected["requestContext"]["stage"] == "test"
        assert event["requestContext"]["resourcePath"] == expected["requestContext"]["resourcePath"]
        for key, value in expected.items():
            assert isinstance(event[key], type(value)) or event[key] is None, key


def test_json_arrives_as_text_and_an_image_as_base64_as_binary_media_types_say(recorded_events):
    as_json, as_jpeg = recorded_events
    assert as_json["isBase64Encoded"] is False
    assert json.loads(as_json["body"]) == {"url": "https://example.com/a.jpg"}
    assert as_json["queryStringParameters"] == {"size": "large"}
    assert as_jpeg["isBase64Encoded"] is True
    assert base64.b64decode(as_jpeg["body"]) == picture("pants-1.jpg")
    assert as_jpeg["headers"]["Content-Type"] == "image/jpeg"



@pytest.mark.parametrize(("size", "status", "message"), [
    (gateway.MAX_EVENT_BYTES * 3 // 4 + 1024, 500, "Internal server error"),  # base64 in the event: over 6 MB
    (gateway.MAX_BODY_BYTES + 1, 413, "Request Too Long"),
])
def test_a_body_over_api_gateways_or_lambdas_limits_gets_api_gateways_own_answer(served, size, status, message):
    """What openapi.yaml documents as API Gateway's own answers; the function never sees the request."""
    body = picture("pants-1.jpg")
    body += b"\0" * (size - len(body))
    answer = requests.post(served.api_url + "/predict", data=body, headers={"Content-Type": "image/jpeg"},
                           timeout=120)
    assert (answer.status_code, answer.json()) == (status, {"message": message})
    small = requests.post(served.api_url + "/predict", data=picture("pants-1.jpg"),
                          headers={"Content-Type": "image/jpeg"}, timeout=60)
    assert small.status_code == 200  # and it keeps serving
