"""Reading requests out of events: direct invocations and API Gateway proxy payloads."""

import base64
import json

import pytest

from clothing.errors import BadRequest, ImageTooLarge, NotAnImage
from clothing.events import error_body, is_proxy_event, parse_event, respond
from tests.conftest import load_event

LIMIT = 1000


def test_direct_url():
    request = parse_event({"url": " https://example.com/a.jpg "}, LIMIT)
    assert request.url == "https://example.com/a.jpg" and request.image is None and not request.is_proxy


def test_direct_image():
    request = parse_event({"image": base64.b64encode(b"abc").decode()}, LIMIT)
    assert request.image == b"abc" and request.url is None


@pytest.mark.parametrize("name", ["apigateway-rest-predict.json", "apigateway-http-api.json"])
def test_generated_api_gateway_events_are_proxy_events(name):
    assert is_proxy_event(load_event(name))


def test_generated_rest_event_carries_its_base64_json_body():
    request = parse_event(load_event("apigateway-rest-predict.json"), LIMIT)
    assert request.is_proxy and request.url.endswith("/images/pants-1.jpg")


def test_content_type_header_is_case_insensitive():
    event = load_event("apigateway-http-api.json")
    body = base64.b64encode(b"\x89PNG").decode()
    event.update(body=body, isBase64Encoded=True, headers={"content-TYPE": "image/png"})
    assert parse_event(event, LIMIT).image == b"\x89PNG"


@pytest.mark.parametrize(
    "event",
    [None, [], "text", 3, {}, {"url": None, "image": None}, {"url": ""}, {"url": 7}, {"image": 7},
     {"image": ""}, {"image": "not base64!"}, {"url": "http://a/b.jpg", "image": "YQ=="}],
)
def test_malformed_direct_events_are_bad_requests(event):
    with pytest.raises(BadRequest):
        parse_event(event, LIMIT)


def test_an_oversized_image_is_refused_before_decoding_base64():
    with pytest.raises(ImageTooLarge):
        parse_event({"image": "A" * (LIMIT * 2)}, LIMIT)


def test_an_oversized_raw_body_is_refused():
    event = load_event("apigateway-rest-predict.json")
    event.update(body=base64.b64encode(b"x" * (LIMIT + 1)).decode(), headers={"Content-Type": "image/jpeg"})
    with pytest.raises(ImageTooLarge):
        parse_event(event, LIMIT)


def test_responses_are_the_body_itself_or_wrapped_for_proxies():
    body = error_body(NotAnImage("nope"))
    assert respond(body, is_proxy=False) == {"error": {"type": "NotAnImage", "message": "nope", "status": 422}}
    wrapped = respond(body, is_proxy=True, status=422)
    assert wrapped["statusCode"] == 422 and json.loads(wrapped["body"]) == body
