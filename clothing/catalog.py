"""A catalog batch: the event Step Functions' Distributed Map sends, a list of S3 keys to classify.

The map lists the catalog bucket's input prefix and hands each invocation ``{"Items": [{"Key": ...}, ...]}``
(``template.yaml``, docs/catalog.md). The bucket and the prefix come from the function's environment, never
from the event, so an invoker can name keys but not where they are read from; a key outside the prefix is
refused before anything is read, as the function's role would refuse it. Each key gets one result, the
scores or the same error object the API answers, so one bad picture never fails its batch.

boto3 is in Lambda's base image; it is imported with this module, on the first batch, never at cold start.
"""

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
from clothing.events import Request, error_body
from clothing.service import Service
from clothing.settings import Settings

MAX_ITEMS = 100  # the template's largest batch; each result is about 400 bytes of a child's 256 KB output
MISSING = {"NoSuchKey", "404", "NotFound"}
DENIED = {"AccessDenied", "403", "AllAccessDisabled"}


class CatalogBucket:
    """Reads pictures from the configured bucket and prefix, with the function's limits and timeouts."""

    def __init__(self, settings: Settings):
        if not settings.catalog_bucket:
            raise BadRequest("this function has no catalog bucket: deploy it with CatalogBucket set")
        self.bucket, self.prefix, self.max_bytes = settings.catalog_bucket, settings.catalog_input_prefix, \
            settings.max_image_bytes
        self.client = boto3.client("s3", config=Config(
            connect_timeout=settings.connect_timeout, read_timeout=settings.fetch_timeout,
            retries={"mode": "standard", "total_max_attempts": 2}))  # one retry: a batch has a deadline

    def read(self, key: object) -> bytes:
        """The object's bytes; a typed error for a key that is not one, is elsewhere, is missing or too large."""
        if not isinstance(key, str) or not key:
            raise BadRequest('each item must be an object with a "Key" string')
        if not key.startswith(self.prefix):
            raise UrlRefused(f"the key is outside the catalog's input prefix {self.prefix!r}")
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
            with answer["Body"] as body:
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
        except BotoCoreError:
            raise UpstreamError("the catalog bucket could not be reached") from None
        if len(data) > self.max_bytes:  # the object grew between its length and its body
            raise ImageTooLarge(f"the object is over the limit of {self.max_bytes} bytes")
        return data


_bucket: CatalogBucket | None = None


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

        def parse(key=key, left=left) -> Request:
            if left is not None:
                service.fetch_timeout(left)  # refuses to start a read the invocation has no time left for
            return Request(image=_bucket.read(key))

        answer = service.answer(parse, left)
        results.append({"input": key, **answer.outcome()})
    return {"results": results}

