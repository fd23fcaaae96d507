"""The pre-traffic check (clothing/pre_traffic.py) against the real emulator serving a good model and broken ones,
reporting to a stand-in CodeDeploy (tests/codedeploy.py) through boto3, as the hook runs in Lambda.

The hook runs in a fresh process with the reference answers that came with the shipped model; boto3 reaches
the emulator and the stand-in by its per-service endpoint variables. Each broken model is what a user can
ship by mistake: a settings file with another scaling, the labels in another order, a damaged model file.
"""

import base64
import json
import subprocess
import sys
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from clothing.classifier import Classifier
from clothing.reference import differences, read_reference, reference_path
from tests.codedeploy import codedeploy
from tests.conftest import AWS_CREDENTIALS, ROOT, in_background, serving

MODEL = ROOT / "clothing_model.tflite"
EVENT = {"DeploymentId": "d-2G5X9QKR4", "LifecycleEventHookExecutionId": "eyJlcnJvckNvZGUiOiJudWxsIn0="}
HOOK = """
import json, sys
from clothing.pre_traffic import lambda_handler
print(json.dumps(lambda_handler(json.loads(sys.argv[1]))))
"""


def run_hook(function_url: str, endpoint: str, version: str = "function") -> tuple[dict, str]:
    """The hook's answer and its log; ``version`` is what CLASSIFIER_VERSION names (the emulator's one name)."""
    env = {"PATH": "/usr/bin:/bin", **AWS_CREDENTIALS, "AWS_ENDPOINT_URL_LAMBDA": function_url,
           "AWS_ENDPOINT_URL_CODEDEPLOY": endpoint, "CLASSIFIER_VERSION": version, "AWS_MAX_ATTEMPTS": "1"}
    result = subprocess.run([sys.executable, "-c", HOOK, json.dumps(EVENT)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    log, answer = result.stdout.strip().splitlines()
    return json.loads(answer), log


def broken_copy(folder, settings: dict | None = None, damaged: bool = False):
    """The shipped model in ``folder``, its settings changed by ``settings``, or its file cut short."""
    folder.mkdir()
    model = folder / MODEL.name
    data = MODEL.read_bytes()
    model.write_bytes(data[: len(data) // 2] if damaged else data)
    shipped = json.loads(MODEL.with_suffix(".json").read_text())
    model.with_suffix(".json").write_text(json.dumps({**shipped, **(settings or {})}))
    return model


def checked(model_path=None) -> tuple[dict, str, list[dict]]:
    """The hook run against the emulator serving ``model_path`` (default: the shipped model)."""
    with serving(**({"MODEL_PATH": str(model_path)} if model_path else {})) as served, codedeploy() as stand_in:
        answer, log = run_hook(served.function_url, stand_in.url)
    return answer, log, stand_in.statuses


@pytest.mark.process
def test_the_shipped_model_passes_and_the_hook_reports_succeeded_for_its_deployment():
    answer, log, statuses = checked()
    assert answer == {"status": "Succeeded", "failures": []}
    assert statuses == [{"deploymentId": EVENT["DeploymentId"],
                         "lifecycleEventHookExecutionId": EVENT["LifecycleEventHookExecutionId"],
                         "status": "Succeeded"}]
    assert json.loads(log)["status"] == "Succeeded"


SHIPPED_LABELS = json.loads(MODEL.with_suffix(".json").read_text())["labels"]


@pytest.mark.process
@pytest.mark.parametrize(("broken", "said"), [
    ({"settings": {"scaling": "torch"}}, "a score"),
    ({"settings": {"labels": SHIPPED_LABELS[::-1]}}, "where the reference says"),
    ({"damaged": True}, "answered"),
], ids=["mis-scaled", "labels-swapped", "damaged-file"])
def test_a_broken_model_fails_and_no_traffic_would_move(tmp_path, broken, said):
    answer, log, statuses = checked(broken_copy(tmp_path / "model", **broken))
    assert answer["status"] == "Failed" and len(answer["failures"]) >= 1
    assert all(said in failure for failure in answer["failures"][:1]), answer["failures"]
    assert [status["status"] for status in statuses] == ["Failed"]
    assert json.loads(log)["failures"] == len(answer["failures"])


class Front(BaseHTTPRequestHandler):
    """Lambda's Invoke in front of the emulator: throttles the first ``throttles`` calls as Lambda does (429,
    ``X-Amzn-ErrorType: TooManyRequestsException``: Lambda API reference, Invoke, Errors), and breaks the
    version as ``broken`` says: answering the JSON string "", or 500 to every API Gateway proxy event."""

    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802 - http.server's name
        event = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server = self.server
        server.calls += 1
        if server.calls <= server.throttles:
            return self.send(429, {"Type": "User", "message": "Rate Exceeded.",
                                   "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"},
                             {"X-Amzn-ErrorType": "TooManyRequestsException"})
        if server.broken == "empty":
            return self.send(200, "")
        if server.broken == "proxy" and "requestContext" in json.loads(event):
            return self.send(200, {"statusCode": 500, "headers": {"Content-Type": "application/json"},
                                   "body": json.dumps({"error": {"type": "InternalError"}})})
        answer = requests.post(server.function_url + self.path, data=event, timeout=60)
        self.send(answer.status_code, answer.json())

    def send(self, status: int, answer: object, headers: dict | None = None) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def front(function_url: str, broken: str | None = None, throttles: int = 0):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Front)
    server.function_url, server.broken, server.throttles, server.calls = function_url, broken, throttles, 0
    with in_background(server) as url:
        yield url


@pytest.fixture(scope="module")
def shipped():
    with serving() as served:
        yield served


@pytest.mark.process
@pytest.mark.parametrize(("broken", "said"), [
    ("empty", "(direct): answered str, not scores for"),
    ("proxy", "(API, image body): answered status 500, not 200"),
])
def test_a_version_that_answers_an_empty_string_or_breaks_the_apis_events_is_refused(shipped, broken, said):
    with front(shipped.function_url, broken) as url, codedeploy() as stand_in:
        answer, log = run_hook(url, stand_in.url)
    assert answer["status"] == "Failed" and [s["status"] for s in stand_in.statuses] == ["Failed"]
    assert any(said in failure for failure in answer["failures"]), answer["failures"][:3]
    assert all(failure.split(": ", 1)[1].strip() for failure in answer["failures"])  # each says why
    assert len(answer["failures"]) == (30 if broken == "empty" else 20)  # ten pictures, each way it fails


@pytest.mark.process
def test_a_throttled_call_is_retried_before_the_version_is_judged(shipped):
    with front(shipped.function_url, throttles=2) as url, codedeploy() as stand_in:
        answer, _ = run_hook(url, stand_in.url)
    assert answer == {"status": "Succeeded", "failures": []}


@pytest.mark.process
def test_a_version_throttled_throughout_fails_saying_so(shipped, monkeypatch):
    import boto3
    from botocore.config import Config

    from clothing import pre_traffic

    for name, value in AWS_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with front(shipped.function_url, throttles=10 ** 6) as url:
        client = boto3.client("lambda", endpoint_url=url, config=Config(retries={"total_max_attempts": 1}))
        waits = []
        invoke = pre_traffic.invoker(client, "function", sleep=waits.append)
        with pytest.raises(pre_traffic.NotAnswered, match="throttled 5 times"):
            invoke({"image": ""})
    assert waits == list(pre_traffic.THROTTLE_WAITS)


@pytest.mark.process
def test_a_version_that_cannot_be_reached_fails_and_is_still_reported():
    """CodeDeploy waits an hour for a hook that reports nothing: every path reports."""
    with codedeploy() as stand_in:
        answer, _ = run_hook("http://127.0.0.1:9", stand_in.url)  # the discard port: nothing listens
    assert answer["status"] == "Failed" and all("not answered" in f for f in answer["failures"])
    assert [status["status"] for status in stand_in.statuses] == ["Failed"]


@pytest.mark.process
def test_the_stand_in_refuses_what_codedeploy_would():
    """The stand-in checks requests against botocore's model of CodeDeploy: a status it lacks is refused."""
    with codedeploy() as stand_in:
        refused = requests.post(stand_in.url, data=json.dumps({"deploymentId": 7}), headers={
            "X-Amz-Target": "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus",
            "Content-Type": "application/x-amz-json-1.1", "Authorization": "AWS4-HMAC-SHA256 Credential=x"})
        assert refused.status_code == 400 and refused.json()["__type"] == "ValidationException"
        assert stand_in.statuses == []


def test_the_shipped_reference_holds_pictures_the_shipped_model_answers_within_the_rule():
    reference = read_reference(reference_path(MODEL))
    assert len(reference["pictures"]) == 10
    classifier = Classifier(MODEL)
    for picture in reference["pictures"]:
        data = base64.b64decode(picture["image"])
        assert differences(picture["scores"], classifier.classify_bytes(data)) is None


@pytest.mark.parametrize(("answered", "reason"), [
    ({"a": 0.7, "b": 0.3}, None),
    ({"a": 0.69, "b": 0.31}, None),  # within 0.02
    ({"a": 0.6, "b": 0.4}, "a score 0.100 away from the reference (at most 0.02)"),
    ({"a": 0.3, "b": 0.7}, "answered b (0.700) where the reference says a (0.700)"),
    ({"error": "ModelError", "message": "x"}, "answered ['error', 'message'], not scores for ['a', 'b']"),
    ({"a": 0.7, "b": float("nan")}, "answered scores that are not finite numbers"),
    ({"a": "0.7", "b": 0.3}, "answered scores that are not finite numbers"),
    ([0.7, 0.3], "answered list, not scores for ['a', 'b']"),
])
def test_the_comparison_rule(answered, reason):
    assert differences({"a": 0.7, "b": 0.3}, answered) == reason


@pytest.mark.process
def test_a_missing_reference_file_fails_the_check_without_invoking_anything(tmp_path, monkeypatch):
    from clothing import pre_traffic

    monkeypatch.setattr(pre_traffic, "REFERENCE", str(tmp_path / "none.json"))
    for name, value in AWS_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", "http://127.0.0.1:9")
    with codedeploy() as stand_in:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CODEDEPLOY", stand_in.url)
        answer = pre_traffic.lambda_handler(EVENT)
    assert answer["failures"] == ["the reference answers cannot be read (FileNotFoundError)"]
    assert [status["status"] for status in stand_in.statuses] == ["Failed"]


@pytest.mark.process
def test_scripts_reference_writes_a_models_own_answers_and_refuses_a_missing_model_in_one_line(tmp_path):
    model = broken_copy(tmp_path / "model")  # the shipped model and settings, unchanged
    run = [sys.executable, "-m", "scripts.reference", str(model), "--check-dir", str(ROOT / "tests" / "images")]
    result = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    reference = read_reference(reference_path(model))
    assert (reference["source"], len(reference["pictures"])) == ("this TF-Lite file as served", 10)
    assert {p["name"] for p in reference["pictures"]} <= {p.name for p in (ROOT / "tests" / "images").iterdir()}
    missing = subprocess.run([sys.executable, "-m", "scripts.reference", str(tmp_path / "none.tflite")], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
