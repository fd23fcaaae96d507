"""The handler end to end in-process: every way an image arrives, every way a request fails."""

import base64
import gc
import hashlib
import json
import logging
import re
import time
from datetime import UTC, datetime

import pytest

import lambda_function
from clothing.logs import InvocationFields, JsonFormatter
from tests.conftest import IMAGES, LABELS, ROOT, load_event


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def rest_event(body: str, base64_encoded: bool = False, content_type: str | None = None) -> dict:
    event = load_event("apigateway-rest-predict.json")
    event["body"], event["isBase64Encoded"] = body, base64_encoded
    if content_type:
        event["headers"]["Content-Type"] = content_type
    return event


def http_api_event(body: str, base64_encoded: bool = False) -> dict:
    event = load_event("apigateway-http-api.json")
    event["body"], event["isBase64Encoded"] = body, base64_encoded
    return event


def assert_scores(answer: dict) -> None:
    assert list(answer) == list(LABELS)
    assert all(type(score) is float for score in answer.values())


def test_direct_url_answers_the_course_contract(image_server, context):
    answer = lambda_function.lambda_handler({"url": f"{image_server}/images/pants-1.jpg"}, context)
    assert_scores(answer)


def test_direct_image_works_without_a_context():
    answer = lambda_function.lambda_handler({"image": b64((IMAGES / "hat-1.jpg").read_bytes())}, None)
    assert_scores(answer)


def test_url_and_image_of_the_same_picture_agree(image_server):
    by_url = lambda_function.lambda_handler({"url": f"{image_server}/images/skirt-1.jpg"}, None)
    by_bytes = lambda_function.lambda_handler({"image": b64((IMAGES / "skirt-1.jpg").read_bytes())}, None)
    assert by_url == by_bytes


@pytest.mark.parametrize("make_event", [rest_event, http_api_event])
@pytest.mark.parametrize("base64_encoded", [False, True])
def test_proxy_events_get_an_http_response(image_server, context, make_event, base64_encoded):
    body = json.dumps({"url": f"{image_server}/redirect/1/shoes-1.jpg"})
    event = make_event(b64(body.encode()) if base64_encoded else body, base64_encoded)
    response = lambda_function.lambda_handler(event, context)
    assert response["statusCode"] == 200
    assert response["headers"] == {"Content-Type": "application/json"}
    assert_scores(json.loads(response["body"]))


def test_a_raw_image_body_with_an_image_content_type(context):
    event = rest_event(b64((IMAGES / "dress-1.jpg").read_bytes()), True, content_type="image/jpeg")
    response = lambda_function.lambda_handler(event, context)
    assert response["statusCode"] == 200
    assert_scores(json.loads(response["body"]))


@pytest.mark.parametrize(
    ("body", "status", "error_type"),
    [
        ("not json", 400, "BadRequest"),
        ("[1, 2]", 400, "BadRequest"),
        ("{}", 400, "BadRequest"),
        ('{"url": "http://x/a.jpg", "image": "aGk="}', 400, "BadRequest"),
        ('{"image": "***"}', 400, "BadRequest"),
        ('{"url": "ftp://example.com/a.jpg"}', 400, "UnsupportedScheme"),
        ('{"url": "http://169.254.169.254/latest/meta-data/"}', 403, "UrlRefused"),
        ('{"image": "aGVsbG8="}', 422, "NotAnImage"),
    ],
)
def test_bad_requests_get_typed_errors(context, body, status, error_type):
    response = lambda_function.lambda_handler(rest_event(body), context)
    assert response["statusCode"] == status
    error = json.loads(response["body"])["error"]
    assert error["type"] == error_type and error["status"] == status and error["message"]


@pytest.mark.parametrize(
    ("path", "status", "error_type"),
    [
        ("/page.html", 422, "NotAnImage"),
        ("/huge", 413, "ImageTooLarge"),
        ("/status/500", 502, "UpstreamError"),
        ("/status/404", 502, "UpstreamError"),
    ],
)
def test_upstream_failures_get_typed_errors(image_server, context, path, status, error_type):
    response = lambda_function.lambda_handler(rest_event(json.dumps({"url": image_server + path})), context)
    assert response["statusCode"] == status
    assert json.loads(response["body"])["error"]["type"] == error_type


def test_the_download_deadline_follows_the_functions_remaining_time(image_server, context):
    context.remaining_ms = 1_500  # less the second kept for decoding and inference: half a second to download
    started = time.monotonic()
    answer = lambda_function.lambda_handler({"url": f"{image_server}/slow"}, context)
    assert answer["error"]["type"] == "UpstreamTimeout" and answer["error"]["status"] == 504
    assert 0.5 <= time.monotonic() - started < 0.9


def test_too_little_remaining_time_is_a_timeout_before_any_download(image_server, context):
    context.remaining_ms = 900
    started = time.monotonic()
    answer = lambda_function.lambda_handler({"url": f"{image_server}/slow"}, context)
    assert answer["error"]["type"] == "UpstreamTimeout" and time.monotonic() - started < 0.2


@pytest.mark.parametrize("query", ["q=a b", "name=café", "x=%E2%82%AC&y=1"])
def test_urls_with_spaces_or_accents_in_their_query_are_fetched(image_server, context, query):
    assert_scores(lambda_function.lambda_handler({"url": f"{image_server}/images/hat-2.jpg?{query}"}, context))


def test_a_url_with_a_lone_surrogate_is_a_bad_request(image_server, context):
    answer = lambda_function.lambda_handler({"url": f"{image_server}/images/\ud800.jpg"}, context)
    assert answer["error"]["type"] == "BadRequest"


def test_credentials_in_a_url_appear_neither_in_the_answer_nor_in_the_log(image_server, context, caplog):
    url = image_server.replace("http://", "http://user:hunter2@") + "/status/404"
    answer = lambda_function.lambda_handler({"url": url}, context)
    assert answer["error"]["type"] == "UpstreamError" and "hunter2" not in json.dumps(answer)
    assert logged(caplog) and not any("hunter2" in json.dumps(line) for line in logged(caplog))


@pytest.mark.parametrize("data", [b"hello", b"\xff\xd8\xff\xe0" + b"\0" * 100, b"GIF89a", b"\x89PNG\r\n\x1a\n"])
def test_an_image_error_says_nothing_of_the_decoders_insides(context, data):
    message = lambda_function.lambda_handler({"image": b64(data)}, context)["error"]["message"]
    assert not any(inside in message for inside in ("0x", "BytesIO", ".c:", "Plugin", "_io", "errno"))


def test_direct_errors_are_error_objects_not_exceptions():
    answer = lambda_function.lambda_handler({"picture": "x"}, None)
    assert set(answer) == {"error"}
    assert answer["error"]["type"] == "BadRequest"


def logged(caplog) -> list[dict]:
    """The JSON lines the function logged, as its formatter writes them."""
    handler = next(h for h in lambda_function.logger.handlers if isinstance(h.formatter, JsonFormatter))
    return [json.loads(handler.format(r)) for r in caplog.records]


def test_the_unexpected_is_a_500_without_a_traceback_and_is_logged(monkeypatch, context, caplog):
    def broken(picture):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(lambda_function.service.classifier, "classify", broken)
    event = rest_event(json.dumps({"image": b64((IMAGES / "hat-1.jpg").read_bytes())}))
    response = lambda_function.lambda_handler(event, context)
    assert response["statusCode"] == 500
    assert "secret" not in response["body"] and "Traceback" not in response["body"]
    record = next(r for r in logged(caplog) if r["message"] == "unexpected error")
    assert record["function_request_id"] == context.aws_request_id
    assert "RuntimeError: secret internal detail" in record["exception"]


def test_keeps_serving_after_bad_requests(image_server, context):
    for event in [None, [], "x", {"url": 5}, {"image": "%%%"}, rest_event("{")]:
        lambda_function.lambda_handler(event, context)
    assert_scores(lambda_function.lambda_handler({"url": f"{image_server}/images/shorts-1.jpg"}, context))


def test_logs_one_structured_line_per_request_with_stage_timings(image_server, context, caplog):
    lambda_function.lambda_handler({"url": f"{image_server}/images/pants-2.jpg"}, context)
    [record] = logged(caplog)
    assert record["message"] == "classified"
    assert record["function_request_id"] == context.aws_request_id
    assert record["prediction"] in LABELS
    assert all(record[key] >= 0 for key in ("fetch_ms", "decode_ms", "inference_ms"))


def test_log_lines_carry_powertools_fields_and_utc_time(image_server, context, caplog, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")  # a local time that differs from UTC all year
    time.tzset()
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    monkeypatch.setenv("_X_AMZN_TRACE_ID", trace)
    try:
        lambda_function.lambda_handler({"url": f"{image_server}/images/pants-2.jpg"}, context)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    [record] = logged(caplog)
    assert record["xray_trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert record["cold_start"] is False  # the module's import served earlier tests in this process
    logged_at = datetime.strptime(record["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - logged_at).total_seconds()) < 60


def test_the_log_line_docs_configuration_shows_is_one_the_function_writes(image_server, context, caplog):
    lambda_function.lambda_handler({"url": f"{image_server}/images/pants-1.jpg"}, context)
    [record] = logged(caplog)
    page = (ROOT / "docs" / "configuration.md").read_text()
    shown = json.loads(next(line for line in page.splitlines() if line.startswith('{"level": "INFO", "message": "c')))
    assert list(shown) == list(record)
    assert (shown["location"], shown["prediction"]) == (record["location"], record["prediction"])


def test_only_the_first_invocation_of_a_process_is_a_cold_start(context):
    fields = InvocationFields()
    record = logging.makeLogRecord({})
    for expected in (True, False, False):
        fields.start(context)
        fields.filter(record)
        assert record.invocation["cold_start"] is expected


def test_start_up_leaves_the_garbage_collector_on_with_its_objects_frozen():
    """The collector is off only while the module loads; a function that leaked cycles would grow until killed."""
    assert gc.isenabled()
    assert gc.get_freeze_count() > 10_000


@pytest.mark.parametrize("event_file", ["apigateway-rest-predict.json", "apigateway-http-api.json"])
def test_a_proxy_get_is_answered_with_the_page(context, event_file):
    event = load_event(event_file)
    if "httpMethod" in event:
        event["httpMethod"] = "GET"
    else:
        event["requestContext"]["http"]["method"] = "GET"
    response = lambda_function.lambda_handler(event, context)
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert response["body"].startswith("<!doctype html>")


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_refused_with_a_405(context, method):
    event = load_event("apigateway-rest-predict.json") | {"httpMethod": method}
    response = lambda_function.lambda_handler(event, context)
    assert response["statusCode"] == 405
    assert json.loads(response["body"])["error"]["type"] == "MethodNotAllowed"


def test_a_direct_event_with_a_method_field_is_still_a_classification_request(image_server, context):
    answer = lambda_function.lambda_handler({"url": f"{image_server}/images/hat-1.jpg", "method": "GET"}, context)
    assert list(answer) == list(LABELS)


def test_the_pages_script_and_style_are_the_ones_its_policy_allows():
    from clothing.page import page

    headers, html = page()
    policy = headers["Content-Security-Policy"]
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        [source] = re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.DOTALL)
        digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in policy
    assert html.count("<script") == 1 and "src=" not in html.split("<script", 1)[1].split(">", 1)[0]
