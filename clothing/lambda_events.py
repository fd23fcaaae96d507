"""AWS Lambda's events, taken apart and answered: the adapter between Lambda and the service.

Direct invocations (console test, ``aws lambda invoke``, boto3, API Gateway without proxy integration) send
``{"url": ...}`` or ``{"image": <base64>}`` and get the class scores, or an error object, as the answer itself.

Proxy events (API Gateway REST v1, HTTP API v2, function URLs) carry the same JSON in their body, or a raw image
with an ``image/*`` content type, and get ``{"statusCode", "headers", "body"}`` with that same JSON as body.
A proxy ``GET`` gets the page for people (``clothing/page.py``) instead.

A catalog batch from Step Functions' Distributed Map, ``{"Items": [{"Key": ...}, ...]}``, gets
``{"results": [...]}``, one result per key (``clothing/catalog.py``).

Each answer's metrics are counted under the route it went by: ``api`` for the API's proxy events, ``check`` for
the pre-traffic check's (``proxy_route``), ``catalog`` for a batch's pictures, ``direct`` for the rest. The API's
alone feed the API's alarms.
"""

import json
from collections.abc import Callable

from clothing.errors import BadRequest
from clothing.request import JSON_HEADERS, Request, b64decode, check_method, parse_body, parse_fields
from clothing.service import Answer, Service

# The stage the pre-traffic check's API-shaped events name (clothing.pre_traffic). API Gateway writes the
# requestContext itself, so no request sent to the API can claim it.
CHECK_STAGE = "pre-traffic-check"


def handle(event: object, service: Service, remaining_seconds: Callable[[], float | None]) -> dict:
    """The answer to one event; ``remaining_seconds()`` is the invocation's time left, as Lambda's context says."""
    proxy = is_proxy_event(event)
    if proxy and http_method(event) == "GET":
        from clothing.page import page  # noqa: PLC0415 - read on the first GET, never at cold start

        headers, html = page()
        return {"statusCode": 200, "headers": headers, "body": html}
    if not proxy and is_batch_event(event):
        from clothing.catalog import classify_batch  # noqa: PLC0415 - boto3 comes with the first batch

        return classify_batch(event, service, remaining_seconds)
    route = proxy_route(event) if proxy else "direct"
    try:
        request = _parse_proxy(event, service.settings.max_image_bytes) if proxy else \
            parse_fields(event, service.settings.max_image_bytes)
    except Exception as error:  # noqa: BLE001 - every failure becomes an error answer
        answer = service.refused(error, route)
    else:
        answer = service.answer(request, remaining_seconds(), route)
    return respond(answer, proxy)


def is_proxy_event(event: object) -> bool:
    return isinstance(event, dict) and ("requestContext" in event or "httpMethod" in event)


def is_batch_event(event: object) -> bool:
    """A direct event that is a catalog batch from Step Functions' Distributed Map: ``{"Items": [{"Key": ...}]}``
    (clothing.catalog). A proxy event with an ``Items`` field is a request, never a batch."""
    return isinstance(event, dict) and "Items" in event


def http_method(event: dict) -> str | None:
    """A proxy event's HTTP method: REST APIs name it at the top, HTTP APIs and function URLs in the context."""
    method = event.get("httpMethod")
    context = event.get("requestContext")
    if method is None and isinstance(context, dict) and isinstance(context.get("http"), dict):
        method = context["http"].get("method")
    return method.upper() if isinstance(method, str) else None


def proxy_route(event: dict) -> str:
    """Where a proxy event's answer goes, as its metrics count it: the API's, or the pre-traffic check's."""
    context = event.get("requestContext")
    return "check" if isinstance(context, dict) and context.get("stage") == CHECK_STAGE else "api"


def parse_event(event: object, max_image_bytes: int) -> Request:
    """The request an event carries, direct or proxy; BadRequest when it carries none."""
    if is_proxy_event(event):
        return _parse_proxy(event, max_image_bytes)
    return parse_fields(event, max_image_bytes)


def _parse_proxy(event: dict, max_image_bytes: int) -> Request:
    check_method(http_method(event))
    headers, body = event.get("headers") or {}, event.get("body") or ""
    if not isinstance(headers, dict):
        raise BadRequest("the request's headers must be an object")
    if not isinstance(body, str):
        raise BadRequest("the request body must be a string")
    content_type = str(next((v for k, v in headers.items() if str(k).lower() == "content-type"), ""))
    if _flag(event.get("isBase64Encoded"), "isBase64Encoded"):
        raw = b64decode(body, "the request body", max_image_bytes)
    else:
        try:
            raw = body.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest("the request body is not valid text") from None
    return parse_body(content_type, raw, max_image_bytes)


def _flag(value: object, name: str) -> bool:
    """A JSON boolean, or the strings "true" and "false" that some clients send instead."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise BadRequest(f"{name} must be true or false")


def respond(answer: Answer, proxy: bool) -> dict:
    """The answer: its body itself for direct invocations, wrapped for proxy events."""
    if not proxy:
        return answer.body
    return {"statusCode": answer.status, "headers": JSON_HEADERS, "body": json.dumps(answer.body)}
