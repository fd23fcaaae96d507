"""A catalog batch: the event Step Functions' Distributed Map sends, a list of S3 keys to classify.

The map lists the catalog bucket's input prefix and hands each invocation ``{"Items": [{"Key": ...}, ...]}``
(``template.yaml``, docs/catalog.md). The bucket and the prefix come from the function's environment, never
from the event, so an invoker can name keys but not where they are read from; a key outside the prefix is
refused before anything is read, as the function's role would refuse it. Each key gets one result, the
scores or the same error object the API answers, so one bad picture never fails its batch.

boto3 is in Lambda's base image; it is imported with this module, on the first batch, never at cold start.
"""

import math
from collections.abc import Callable

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

from clothing.errors import (
    BadRequest,
    ClothingError,
    ImageTooLarge,
    NotFound,
    UpstreamError,
    UpstreamTimeout,
    UrlRefused,
)
from clothing.fetch import Deadline
from clothing.request import Request, error_body
from clothing.service import Service
from clothing.settings import Settings

MAX_ITEMS = 100  # the template's largest batch, whose results must fit a child execution's 256 KB output
MAX_KEY_BYTES = 1024  # S3's longest key, in UTF-8 (S3 User Guide, "Naming Amazon S3 objects")
ECHOED_CHARACTERS = 64  # of a key too long to be one, echoed in its result
MISSING = {"NoSuchKey", "404", "NotFound"}
DENIED = {"AccessDenied", "403", "AllAccessDisabled"}
TIMEOUT_STEP = 0.5  # seconds: a client is made for each half second a read may take, as the deadline nears


class CatalogBucket:
    """Reads pictures from the configured bucket and prefix, with the function's limits, each read ending by the
    time it is given: the invocation's, so that a read near the end cannot outlast it."""

    def __init__(self, settings: Settings):
        if not settings.catalog_bucket:
            raise BadRequest("this function has no catalog bucket: deploy it with CatalogBucket set")
        self.bucket, self.prefix, self.max_bytes = settings.catalog_bucket, settings.catalog_input_prefix, \
            settings.max_image_bytes
        self.connect_timeout = settings.connect_timeout
        self.clients: dict[float, object] = {}

    def client(self, seconds: float):
        """An S3 client whose request, and its one retry, each end within ``seconds``: connecting and waiting
        for the answer share them."""
        step = math.floor(seconds / TIMEOUT_STEP) * TIMEOUT_STEP
        if step <= 0:
            raise UpstreamTimeout("too little of the function's time is left to read the picture")
        if step not in self.clients:
            connect = min(self.connect_timeout, step / 2)
            self.clients[step] = boto3.client("s3", config=Config(
                connect_timeout=connect, read_timeout=step - connect,
                retries={"mode": "standard", "total_max_attempts": 2}))
        return self.clients[step]

    def read(self, key: object, seconds: float) -> bytes:
        """The object's bytes within ``seconds``; a typed error for a key that is not one, is elsewhere, is
        missing or too large, or for a read that does not end in time."""
        if not isinstance(key, str) or not key:
            raise BadRequest('each item must be an object with a "Key" string')
        if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            raise NotFound(f"the key is over S3's {MAX_KEY_BYTES} bytes: no catalog holds it")
        if any(segment in (".", "..") for segment in key.split("/")):
            raise NotFound("the key has a . or .. segment: no catalog lists one")
        if not key.startswith(self.prefix):
            raise UrlRefused(f"the key is outside the catalog's input prefix {self.prefix!r}")
        client = self.client(seconds / 2)  # two attempts at most: the answer's headers come within ``seconds``
        deadline = Deadline(seconds)  # and its body by then, however slowly it comes
        try:
            answer = client.get_object(Bucket=self.bucket, Key=key)
            body = answer["Body"]
            with body as stream:  # urllib3's response, whose socket the deadline shuts when it comes
                if (sock := getattr(getattr(stream, "connection", None), "sock", None)) is not None:
                    deadline.watch(sock)
                if answer["ContentLength"] > self.max_bytes:
                    raise ImageTooLarge(f"the object is {answer['ContentLength']} bytes; the limit is "
                                        f"{self.max_bytes}")
                data = body.read(self.max_bytes + 1)
        except ClientError as error:  # S3's own message stays in S3's answer: the caller gets ours
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in MISSING:
                raise NotFound("no such object in the catalog bucket") from None
            if code in DENIED:
                raise UrlRefused("the function's role may not read this object") from None
            raise UpstreamError(f"the catalog bucket answered with an error ({code or 'no code'})") from None
        except (ConnectTimeoutError, ReadTimeoutError):
            raise UpstreamTimeout("the catalog bucket was too slow to answer") from None
        except (BotoCoreError, OSError):  # OSError: a socket the deadline shut, under urllib3
            if deadline.expired:
                raise UpstreamTimeout("the catalog bucket did not send the picture in time") from None
            raise UpstreamError("the catalog bucket could not be reached") from None
        finally:
            deadline.cancel()
        if deadline.expired:  # a shut socket reads as the end of the body
            raise UpstreamTimeout("the catalog bucket did not send the picture in time")
        if len(data) < answer["ContentLength"]:
            raise UpstreamError("the catalog bucket's answer was cut short")
        if len(data) > self.max_bytes:  # the object grew between its length and its body
            raise ImageTooLarge(f"the object is over the limit of {self.max_bytes} bytes")
        return data


_bucket: CatalogBucket | None = None


def echoed(key: object) -> object:
    """The key as its result names it: a key too long to be one is cut short, so a result stays small."""
    if isinstance(key, str) and len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        return key[:ECHOED_CHARACTERS] + "..."
    return key


def classify_batch(event: dict, service: Service, remaining_seconds: Callable[[], float | None]) -> dict:
    """``{"results": [{"input": key, "scores"|"error": ...}, ...]}``, one result per item, in order.

    ``remaining_seconds()`` is the invocation's time left, asked before each picture, so that a batch
    running out of time answers the rest with timeouts rather than being killed with nothing written.
    """
    global _bucket
    items = event["Items"]
    if not isinstance(items, list) or len(items) > MAX_ITEMS:
        error = BadRequest(f'"Items" must be a list of at most {MAX_ITEMS} objects')
        return error_body(error)
    try:
        _bucket = _bucket or CatalogBucket(service.settings)
    except ClothingError as error:
        return error_body(error)
    results = []
    for item in items:
        key = item.get("Key") if isinstance(item, dict) else None
        left = remaining_seconds()
        try:  # the configured download time, cut short by the invocation's; refused when none is left
            request = Request(image=_bucket.read(key, service.fetch_timeout(left)))
        except Exception as error:  # noqa: BLE001 - one bad key never fails its batch
            answer = service.refused(error, "catalog")
        else:
            answer = service.answer(request, left, "catalog")
        results.append({"input": echoed(key), **answer.outcome()})
    return {"results": results}

