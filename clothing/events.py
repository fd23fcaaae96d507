"""The event and response contract: what callers send and what they get back.

Direct invocations (console test, ``aws lambda invoke``, boto3, API Gateway
without proxy integration) send ``{"url": ...}`` or ``{"image": <base64>}``
and get the class scores, or an error object, as the answer itself.

Proxy events (API Gateway REST v1, HTTP API v2, function URLs) carry the
same JSON in their body, or a raw image with an ``image/*`` content type,
and get ``{"statusCode", "headers", "body"}`` with that same JSON as body.
A proxy ``GET`` gets the page for people (``clothing/page.py``) instead.

A catalog batch from Step Functions' Distributed Map, ``{"Items": [{"Key": ...}, ...]}``, gets
``{"results": [...]}``, one result per key (``clothing/catalog.py``).

Google Cloud Functions and Azure Functions hand over a plain HTTP request:
``check_method`` and ``parse_body`` read it by the same rules as a proxy event.
"""

import base64
import binascii
import json
import re
from typing import NamedTuple

from clothing.errors import BadRequest, ClothingError, ImageTooLarge, MethodNotAllowed

JSON_HEADERS = {"Content-Type": "application/json"}


class Request(NamedTuple):
    """One classification request: either a URL to fetch or the image bytes.

    A NamedTuple rather than a dataclass: ``dataclasses`` alone costs 10 ms of a cold start.
    """

    url: str | None = None
    image: bytes | None = None


def is_proxy_event(event: object) -> bool:
    return isinstance(event, dict) and ("requestContext" in event or "httpMethod" in event)


def http_method(event: object) -> str | None:
    """A proxy event's HTTP method: REST APIs name it at the top, HTTP APIs and function URLs in the context."""
    if not is_proxy_event(event):
        return None
    method = event.get("httpMethod")
    context = event.get("requestContext")
    if method is None and isinstance(context, dict) and isinstance(context.get("http"), dict):
        method = context["http"].get("method")
    return method.upper() if isinstance(method, str) else None


def is_batch_event(event: object) -> bool:
    """A catalog batch from Step Functions' Distributed Map: ``{"Items": [{"Key": ...}, ...]}`` (clothing.catalog)."""
    return isinstance(event, dict) and "Items" in event and not is_proxy_event(event)


# The stage the pre-traffic check's API-shaped events name (clothing.pre_traffic). API Gateway writes the
# requestContext itself, so no request sent to the API can claim it.
CHECK_STAGE = "pre-traffic-check"


def route_of(event: object) -> str:
    """Where an event's answer goes, as its metrics count it: ``api``, ``catalog``, ``check`` or ``direct``."""
    if is_batch_event(event):
        return "catalog"
    if not is_proxy_event(event):
        return "direct"
    context = event.get("requestContext")
    return "check" if isinstance(context, dict) and context.get("stage") == CHECK_STAGE else "api"


def is_page_request(event: object) -> bool:
    return http_method(event) == "GET"


def parse_event(event: object, max_image_bytes: int) -> Request:
    """The request an event carries; BadRequest when it carries none."""
    if is_proxy_event(event):
        return _parse_proxy(event, max_image_bytes)
    return _parse_fields(event, max_image_bytes)


def _parse_proxy(event: dict, max_image_bytes: int) -> Request:
    check_method(http_method(event))
    headers, body = event.get("headers") or {}, event.get("body") or ""
    if not isinstance(headers, dict):
        raise BadRequest("the request's headers must be an object")
    if not isinstance(body, str):
        raise BadRequest("the request body must be a string")
    content_type = str(next((v for k, v in headers.items() if str(k).lower() == "content-type"), ""))
    if _flag(event.get("isBase64Encoded"), "isBase64Encoded"):
        raw = _b64decode(body, "the request body", max_image_bytes)
    else:
        try:
            raw = body.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest("the request body is not valid text") from None
    return parse_body(content_type, raw, max_image_bytes)


def check_method(method: str | None) -> None:
    """Only POST classifies (GET is the page's, answered before this); ``None`` is an event that names none."""
    if method not in (None, "POST"):
        raise MethodNotAllowed(f"{method[:16]} is not allowed: POST a picture, or GET the page")


def _sent_as(content_type: str) -> str:
    """The type a body came with, for the message that asks for another: curl's default is a form's."""
    return f", not {content_type.split(';')[0].strip()!r}" if content_type.strip() else ""


def parse_body(content_type: str, raw: bytes, max_image_bytes: int) -> Request:
    """An HTTP body, from any platform: JSON fields, or an image with an ``image/*`` content type."""
    if content_type.lower().startswith("image/"):
        if not raw:
            raise BadRequest("the request body is empty")
        _check_size(raw, max_image_bytes)
        return Request(image=raw)
    try:
        fields = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest(
            'the request body must be JSON such as {"url": "https://..."}, or a picture\'s bytes sent with '
            f"Content-Type: image/jpeg (or image/png, image/webp...){_sent_as(content_type)}"
        ) from None
    return _parse_fields(fields, max_image_bytes)


def _flag(value: object, name: str) -> bool:
    """A JSON boolean, or the strings "true" and "false" that some clients send instead."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise BadRequest(f"{name} must be true or false")


def _parse_fields(fields: object, max_image_bytes: int) -> Request:
    if not isinstance(fields, dict):
        raise BadRequest('the request must be a JSON object: {"url": "..."} or {"image": "<base64>"}')
    url, image = fields.get("url"), fields.get("image")
    if (url is None) == (image is None):
        raise BadRequest('give exactly one of "url" (an http(s) URL) or "image" (a base64-encoded image file)')
    if url is not None:
        if not isinstance(url, str) or not url.strip():
            raise BadRequest('"url" must be a non-empty string')
        return Request(url=url.strip())
    if not isinstance(image, str):
        raise BadRequest('"image" must be a base64 string')
    data = _b64decode(image, '"image"', max_image_bytes)
    if not data:
        raise BadRequest('"image" is empty')
    _check_size(data, max_image_bytes)
    return Request(image=data)


_DATA_URL = re.compile(r"data:[\w/.+-]*(;[\w=.+-]+)*;base64,", re.IGNORECASE)
_URL_SAFE = str.maketrans("-_", "+/")


def _b64decode(text: str, what: str, max_image_bytes: int) -> bytes:
    """Standard or URL-safe base64, wrapped or not, padded or not, or a ``data:`` URL; refused by length first."""
    encoded_limit = (max_image_bytes + 2) // 3 * 4
    if len(text) > 2 * encoded_limit:  # far over, whatever line breaks it has: refused before any copy
        raise ImageTooLarge(f"{what} is over the limit of {max_image_bytes} bytes")
    prefix = _DATA_URL.match(text)
    text = "".join(text[prefix.end() if prefix else 0:].split()).translate(_URL_SAFE)
    if len(text) > encoded_limit:
        raise ImageTooLarge(f"{what} is over the limit of {max_image_bytes} bytes")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{what} is not valid base64: send the file's bytes in standard or URL-safe base64, "
                         "or a data: URL") from None


def _check_size(data: bytes, max_image_bytes: int) -> None:
    if len(data) > max_image_bytes:
        raise ImageTooLarge(f"the image is {len(data)} bytes; the limit is {max_image_bytes}")


def error_body(error: ClothingError) -> dict:
    return {"error": {"type": error.error_type, "message": error.message, "status": error.status}}


def respond(body: dict, is_proxy: bool, status: int = 200) -> dict:
    """The answer: the body itself for direct invocations, wrapped for proxy events."""
    if not is_proxy:
        return body
    return {"statusCode": status, "headers": JSON_HEADERS, "body": json.dumps(body)}
