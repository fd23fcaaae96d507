"""One classification request, and the body it comes in: the contract every platform's adapter shares.

A request is a URL to fetch or a picture's bytes. Its body is JSON, ``{"url": ...}`` or ``{"image": <base64>}``,
or a picture's raw bytes with an ``image/*`` content type. Each platform's adapter (``clothing.lambda_events``,
``clothing.http_requests``) takes its own shapes apart and hands the service a Request; the answer is the
scores or an error object (``error_body``), which the adapter shapes back.
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

    A NamedTuple rather than a dataclass: importing ``dataclasses`` is a measurable part of a cold start.
    """

    url: str | None = None
    image: bytes | None = None


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
    return parse_fields(fields, max_image_bytes)


def parse_fields(fields: object, max_image_bytes: int) -> Request:
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
    data = b64decode(image, '"image"', max_image_bytes)
    if not data:
        raise BadRequest('"image" is empty')
    _check_size(data, max_image_bytes)
    return Request(image=data)


_DATA_URL = re.compile(r"data:[\w/.+-]*(;[\w=.+-]+)*;base64,", re.IGNORECASE)
_URL_SAFE = str.maketrans("-_", "+/")


def b64decode(text: str, what: str, max_image_bytes: int) -> bytes:
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
