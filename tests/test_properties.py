"""Whatever arrives, the handler answers with a result or a typed error and never raises.

DNS is the one part faked here: every host name resolves to 127.0.0.1, so
random URLs reach closed local ports or the test server, never the internet.
"""

import base64
import json
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lambda_function
from tests.conftest import IMAGES, LABELS, load_event

pytestmark = pytest.mark.process  # every test here starts a process or a server

STATUSES = {400, 403, 413, 422, 502, 504}  # never 500: no input is unexpected
JPEG = (IMAGES / "t-shirt-1.jpg").read_bytes()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
urls = st.one_of(
    st.text(max_size=40),
    st.builds(lambda scheme, host, path: f"{scheme}://{host}/{path}",
              st.sampled_from(["http", "https", "ftp", "file", "HTTP", ""]),
              st.sampled_from(["a", "127.0.0.1:1", "[::1]:1", "2130706433", "x.test:0", "@", "%00"]),
              st.text(max_size=10)),
)
corrupted_jpegs = st.lists(st.tuples(st.integers(0, len(JPEG) - 1), st.integers(0, 255)), min_size=1, max_size=20).map(
    lambda edits: bytes(_apply(bytearray(JPEG), edits))
)


def _apply(data: bytearray, edits) -> bytearray:
    for position, value in edits:
        data[position] = value
    return data


images = st.one_of(st.binary(max_size=2000), corrupted_jpegs, st.just(JPEG[: len(JPEG) // 2]))
direct_events = st.one_of(
    json_values,
    st.fixed_dictionaries({"url": urls}),
    st.fixed_dictionaries({"image": images.map(lambda b: base64.b64encode(b).decode())}),
    st.fixed_dictionaries({"image": st.text(max_size=30)}),
)


def proxy_event(body: str, base64_encoded: bool, content_type: str) -> dict:
    event = load_event("apigateway-rest-predict.json")
    event.update(body=body, isBase64Encoded=base64_encoded, headers={"Content-Type": content_type})
    return event


def envelope(headers: object, body: object, base64_encoded: object, request_context: object) -> dict:
    event = load_event("apigateway-rest-predict.json")
    event.update(headers=headers, body=body, isBase64Encoded=base64_encoded, requestContext=request_context)
    return event


texts = st.text(max_size=30)  # lone surrogates included
deep_json = st.integers(1, 20_000).map(lambda depth: "[" * depth + "]" * depth)
envelopes = st.builds(
    envelope,
    st.one_of(json_values, st.dictionaries(texts, texts | st.none() | st.integers(), max_size=3),
              st.just({"Content-Type": "image/png"})),
    st.one_of(json_values, texts, deep_json, st.just("\ud800"), direct_events.map(json.dumps)),
    st.one_of(json_values, st.sampled_from(["true", "false", "TRUE", "no", ""])),
    st.one_of(json_values, st.just({"stage": "test"})),
)
proxy_events = st.one_of(
    envelopes,
    st.builds(proxy_event, st.text(max_size=50), st.booleans(),
              st.sampled_from(["application/json", "image/jpeg", ""])),
    st.builds(proxy_event, direct_events.map(json.dumps), st.just(False), st.just("application/json")),
    st.builds(proxy_event, images.map(lambda b: base64.b64encode(b).decode()), st.just(True), st.just("image/jpeg")),
)


@pytest.fixture(autouse=True)
def resolve_everything_to_loopback(monkeypatch):
    def resolve(host, port, type=0):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(lambda_function.service.fetcher.policy, "_resolve", resolve)


def check_answer(answer: dict) -> None:
    if "error" in answer:
        assert answer["error"]["status"] in STATUSES and answer["error"]["message"]
    else:
        assert list(answer) == list(LABELS)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(direct_events)
def test_direct_events_never_raise(event):
    check_answer(lambda_function.lambda_handler(event, None))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(proxy_events)
def test_proxy_events_never_raise(event):
    response = lambda_function.lambda_handler(event, None)
    assert response["statusCode"] == 200 or response["statusCode"] in STATUSES
    check_answer(json.loads(response["body"]))
