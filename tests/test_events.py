"""Reading requests out of Lambda's events (clothing.lambda_events): direct invocations and API Gateway proxy
payloads."""

import base64
import json

import pytest

from clothing.errors import BadRequest, ImageTooLarge, NotAnImage
from clothing.lambda_events import is_proxy_event, parse_event, respond
from clothing.request import error_body
from clothing.service import Answer
from tests.conftest import load_event

LIMIT = 1000


def test_direct_url():
    request = parse_event({"url": " https://example.com/a.jpg "}, LIMIT)
    assert request.url == "https://example.com/a.jpg" and request.image is None


def test_direct_image():
    request = parse_event({"image": base64.b64encode(b"abc").decode()}, LIMIT)
    assert request.image == b"abc" and request.url is None


@pytest.mark.parametrize("name", ["apigateway-rest-predict.json", "apigateway-http-api.json"])
def test_generated_api_gateway_events_are_proxy_events(name):
    assert is_proxy_event(load_event(name))


def test_generated_rest_event_carries_its_base64_json_body():
    request = parse_event(load_event("apigateway-rest-predict.json"), LIMIT)
    assert request.url.endswith("/images/pants-1.jpg")


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
    assert respond(Answer(422, body), proxy=False) == {"error": {"type": "NotAnImage", "message": "nope",
                                                                 "status": 422}}
    wrapped = respond(Answer(422, body), proxy=True)
    assert wrapped["statusCode"] == 422 and json.loads(wrapped["body"]) == body


PICTURE_BYTES = bytes(range(256)) * 3  # every byte value, so both base64 alphabets differ from each other


def test_base64_as_clients_send_it_is_accepted():
    standard = base64.b64encode(PICTURE_BYTES).decode()
    wrapped = "\n".join(standard[i:i + 76] for i in range(0, len(standard), 76)) + "\n"  # what `base64` prints
    url_safe = base64.urlsafe_b64encode(PICTURE_BYTES).decode().rstrip("=")
    data_url = "data:image/jpeg;base64," + standard  # what a browser's FileReader makes
    for text in (standard, wrapped, url_safe, data_url):
        assert parse_event({"image": text}, 10_000).image == PICTURE_BYTES


@pytest.mark.parametrize("text", ["YWJj!", "YW*Jj", "Y", "YWJj====", "data:image/png;base64,%%%"])
def test_what_is_not_base64_in_any_alphabet_is_refused_with_how_to_send_it(text):
    with pytest.raises(BadRequest, match="standard or URL-safe base64, or a data: URL"):
        parse_event({"image": text}, LIMIT)


def test_a_huge_base64_string_is_refused_from_its_length_before_any_decoding():
    # not base64 at all: decoding it first would answer 400, its length alone answers 413
    with pytest.raises(ImageTooLarge):
        parse_event({"image": "!" * (20 * 2**20)}, 10 * 2**20)
    at_limit = base64.b64encode(b"x" * LIMIT).decode()
    assert len(parse_event({"image": at_limit}, LIMIT).image) == LIMIT


def proxy(**fields) -> dict:
    event = load_event("apigateway-rest-predict.json")
    event.update(fields)
    return event


@pytest.mark.parametrize("flag", [False, "false", "FALSE", None])
def test_is_base64_encoded_false_in_any_spelling_reads_the_body_as_text(flag):
    request = parse_event(proxy(body='{"url": "https://a.example/b.jpg"}', isBase64Encoded=flag), LIMIT)
    assert request.url == "https://a.example/b.jpg"


@pytest.mark.parametrize("event", [
    proxy(headers=["Content-Type", "image/jpeg"]),
    proxy(headers="Content-Type: image/jpeg"),
    proxy(body="\ud800", isBase64Encoded=False),
    proxy(body="[" * 10_000 + "]" * 10_000, isBase64Encoded=False),
    proxy(isBase64Encoded="maybe"),
    proxy(body=12),
])
def test_a_malformed_proxy_envelope_is_a_bad_request(event):
    with pytest.raises(BadRequest):
        parse_event(event, LIMIT)
