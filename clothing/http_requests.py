"""Plain HTTP requests, as Google Cloud Functions (``main.py``) and Azure Functions (``function_app.py``) hand
them over: the adapter between those platforms and the service.

``GET`` is the page for people; ``POST`` is a request body read within its limit and classified by the same
rules as a Lambda proxy event's; any other method is refused (405).
"""

import json
from collections.abc import Callable
from typing import NamedTuple

from clothing.errors import ImageTooLarge
from clothing.request import JSON_HEADERS, check_method, parse_body
from clothing.service import Service

BODY_SLACK_BYTES = 64 * 1024  # JSON around a base64 image: braces, a field name, a data: prefix


class HttpAnswer(NamedTuple):
    """A whole HTTP response: status, headers and body text."""

    status: int
    headers: dict[str, str]
    body: str


def answer_http(service: Service, method: str, content_type: str, length: int | None,
                read: Callable[[int], bytes]) -> HttpAnswer:
    """One request: ``length`` is the declared Content-Length, if any; ``read(n)`` reads at most n bytes."""
    method = method.upper()
    if method == "GET":
        from clothing.page import page  # noqa: PLC0415 - read on the first GET, never at cold start

        return HttpAnswer(200, *page())
    limit = service.settings.max_image_bytes
    try:
        check_method(method)
        request = parse_body(content_type, read_body(max_body_bytes(limit), length, read), limit)
    except Exception as error:  # noqa: BLE001 - every failure becomes an error answer
        answer = service.refused(error, "api")
    else:
        answer = service.answer(request, route="api")
    return HttpAnswer(answer.status, JSON_HEADERS, json.dumps(answer.body))


def max_body_bytes(max_image_bytes: int) -> int:
    """The largest HTTP body worth reading: a base64 image at the limit, line-wrapped, in its JSON."""
    return 2 * (max_image_bytes + 2) // 3 * 4 + BODY_SLACK_BYTES


def read_body(limit: int, length: int | None, read: Callable[[int], bytes]) -> bytes:
    """A request body, refused by its declared length first and never read past the limit."""
    if length is not None and length > limit:
        raise ImageTooLarge(f"the request body is {length} bytes; the limit is {limit}")
    body = read(limit + 1)
    if len(body) > limit:
        raise ImageTooLarge(f"the request body is over the limit of {limit} bytes")
    return body
