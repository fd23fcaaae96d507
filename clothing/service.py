"""The classifier behind every platform's entry: one request in, one answer out.

``lambda_function.py`` (AWS Lambda), ``main.py`` (Google Cloud Functions) and
``function_app.py`` (Azure Functions) each build one Service at cold start and
only translate: their platform's request into a parse call, and the Answer into
their platform's response. The limits, the address policy, the deadline, the
errors and the logs are all decided here, once for the three.
"""

import functools
import json
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from clothing.classifier import Classifier
from clothing.errors import ClothingError, ImageTooLarge, UpstreamError, UpstreamTimeout
from clothing.events import JSON_HEADERS, Request, check_method, error_body, parse_body
from clothing.settings import LAMBDA_MB_PER_VCPU, Settings, interpreter_threads

if TYPE_CHECKING:
    from clothing.fetch import Fetcher

RESERVED_SECONDS = 1.0  # of the function's remaining time, kept for decoding and inference
ANSWER_SECONDS = 0.5  # of the same, kept for inference and the answer once the picture is decoded
BODY_SLACK_BYTES = 64 * 1024  # JSON around a base64 image: braces, a field name, a data: prefix
# An answer whose top score is under this is unsure: a rising share of them says the pictures sent have drifted
# from what the model knows.
LOW_CONFIDENCE = 0.5


def answer_metrics(started: float, status: int, top_score: float | None = None) -> dict[str, tuple[float, str]]:
    """What each answer adds to the function's CloudWatch metrics (clothing.logs writes them)."""
    upstream = status in (UpstreamError.status, UpstreamTimeout.status)  # the image host's failure, not ours
    metrics = {"Latency": (round((time.perf_counter() - started) * 1000, 1), "Milliseconds"),
               "ServerErrors": (int(status >= 500 and not upstream), "Count"),
               "UpstreamErrors": (int(upstream), "Count"), "ClientErrors": (int(400 <= status < 500), "Count")}
    if top_score is not None:
        metrics |= {"TopScore": (round(top_score, 4), "None"), "LowConfidence": (int(top_score < LOW_CONFIDENCE),
                                                                                "Count")}
    return metrics


class Answer(NamedTuple):
    """What the caller gets: an HTTP status and a JSON object, the scores or an error."""

    status: int
    body: dict

    def outcome(self) -> dict:
        """As a catalog's line has it: ``{"scores": ...}``, or the error object, ``{"error": ...}``."""
        return {"scores": self.body} if self.status == 200 else self.body


class HttpAnswer(NamedTuple):
    """A whole HTTP response, for platforms that take one: status, headers and body text."""

    status: int
    headers: dict[str, str]
    body: str


class Service:
    """The model, the image fetcher and the limits, built once; ``answer`` serves one request."""

    def __init__(self, settings: Settings, logger: logging.Logger):
        self.settings = settings
        self.logger = logger
        memory_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        threads, threads_reason = interpreter_threads(settings.interpreter_threads, memory_mb)
        self.classifier = Classifier(settings.model_path, threads)
        # Decoding uses one thread; below 1,769 MB Lambda gives it only this share of a CPU.
        self.cpu_share = min(1.0, int(memory_mb) / LAMBDA_MB_PER_VCPU) if memory_mb else 1.0
        logger.info("ready", extra={"fields": {
            "model": os.path.basename(settings.model_path), "labels": len(self.classifier.labels),
            "interpreter_threads": threads, "threads_reason": threads_reason}})

    @functools.cached_property
    def fetcher(self) -> "Fetcher":
        """The image fetcher, made on the first URL: its HTTP client, ssl, and the address policy's socket and
        ipaddress are 14 to 25 ms of a cold start (``python -m benchmarks.startup``) that a picture sent in the
        request never needs (SnapStart's priming makes it before the snapshot)."""
        from clothing.addresses import AddressPolicy  # noqa: PLC0415
        from clothing.fetch import Fetcher  # noqa: PLC0415

        settings = self.settings
        return Fetcher(AddressPolicy(allow_private=settings.allow_private_urls, ports=settings.allowed_ports),
                       max_bytes=settings.max_image_bytes, connect_timeout=settings.connect_timeout,
                       max_redirects=settings.max_redirects)

    @property
    def max_body_bytes(self) -> int:
        """The largest HTTP body worth reading: a base64 image at the limit, line-wrapped, in its JSON."""
        return 2 * (self.settings.max_image_bytes + 2) // 3 * 4 + BODY_SLACK_BYTES

    def read_body(self, length: int | None, read: Callable[[int], bytes]) -> bytes:
        """A request body, refused by its declared length first and never read past the limit."""
        limit = self.max_body_bytes
        if length is not None and length > limit:
            raise ImageTooLarge(f"the request body is {length} bytes; the limit is {limit}")
        body = read(limit + 1)
        if len(body) > limit:
            raise ImageTooLarge(f"the request body is over the limit of {limit} bytes")
        return body

    def answer(self, parse: Callable[[], Request], remaining_seconds: float | None = None,
               route: str = "direct") -> Answer:
        """Parse, fetch or decode, classify; every failure becomes an error answer, never an exception.

        ``route`` is where the answer goes (``clothing.events.route_of``): its metrics are counted under it.

        ``remaining_seconds`` is the platform's own deadline where it tells one (Lambda does):
        the download is cut short to leave time for the rest, and a decode that would outlast
        it is refused or stopped.
        """
        started = time.perf_counter()
        try:
            request = parse()
            scores, timings = self.classify(request, remaining_seconds)
        except ClothingError as error:
            self.logger.warning(error.message, extra={"fields": {"error_type": error.error_type,
                                                                 "status": error.status, "route": route},
                                                      "metrics": answer_metrics(started, error.status)})
            return Answer(error.status, error_body(error))
        except Exception:
            error = ClothingError("unexpected error; it is logged under this request's id")
            self.logger.exception("unexpected error", extra={"fields": {"route": route, "status": error.status},
                                                             "metrics": answer_metrics(started, error.status)})
            return Answer(error.status, error_body(error))
        prediction = max(scores, key=scores.__getitem__)
        self.logger.info("classified", extra={"fields": {**timings, "prediction": prediction, "route": route},
                                              "metrics": answer_metrics(started, 200, scores[prediction])})
        return Answer(200, scores)

    def answer_http(self, method: str, content_type: str, length: int | None,
                    read: Callable[[int], bytes]) -> HttpAnswer:
        """One plain HTTP request (Google's and Azure's): GET is the page, POST is classified, the rest 405.

        ``length`` is the declared Content-Length, if any; ``read(n)`` reads at most n bytes of the body.
        """
        method = method.upper()
        if method == "GET":
            from clothing.page import page  # read on the first GET, never at cold start

            return HttpAnswer(200, *page())

        def parse() -> Request:
            check_method(method)
            return parse_body(content_type, self.read_body(length, read), self.settings.max_image_bytes)

        answer = self.answer(parse, route="api")
        return HttpAnswer(answer.status, JSON_HEADERS, json.dumps(answer.body))

    def classify(self, request: Request, remaining_seconds: float | None) -> tuple[dict[str, float], dict]:
        """The class scores for one request, and how many milliseconds each stage took."""
        started = time.perf_counter()
        deadline = None if remaining_seconds is None else time.monotonic() + remaining_seconds - ANSWER_SECONDS
        if request.url is None:
            data = request.image
        else:
            data = self.fetcher.fetch(request.url, self.fetch_timeout(remaining_seconds))
        fetched = time.perf_counter()
        settings = self.settings
        picture = self.classifier.decode(data, max_pixels=settings.max_image_pixels,
                                         max_decode_bytes=settings.max_decode_bytes,
                                         max_decode_seconds=settings.max_decode_seconds, deadline=deadline,
                                         cpu_share=self.cpu_share)
        decoded = time.perf_counter()
        scores = self.classifier.classify(picture)
        done = time.perf_counter()
        timings = {
            "fetch_ms": round((fetched - started) * 1000, 1),
            "decode_ms": round((decoded - fetched) * 1000, 1),
            "inference_ms": round((done - decoded) * 1000, 1),
        }
        return scores, timings

    def fetch_timeout(self, remaining_seconds: float | None) -> float:
        """The download's deadline: the configured one, cut short by the function's own."""
        if remaining_seconds is None:
            return self.settings.fetch_timeout
        timeout = min(self.settings.fetch_timeout, remaining_seconds - RESERVED_SECONDS)
        if timeout <= 0:
            raise UpstreamTimeout("too little of the function's time is left to download the image")
        return timeout
