"""The classifier behind every platform's entry: one request in, one answer out.

``lambda_function.py`` (AWS Lambda), ``main.py`` (Google Cloud Functions) and
``function_app.py`` (Azure Functions) each build one Service at cold start; their
adapters (``clothing.lambda_events``, ``clothing.http_requests``) take their
platform's shapes apart into a Request and shape the Answer back. The limits,
the address policy, the deadline, the errors and the logs are all decided here,
once for the three, and nothing here knows a platform.
"""

import functools
import logging
import os
import time
from typing import TYPE_CHECKING, NamedTuple

from clothing.classifier import Classifier
from clothing.errors import ClothingError, UpstreamError, UpstreamTimeout
from clothing.request import Request, error_body
from clothing.settings import LAMBDA_MB_PER_VCPU, Settings, interpreter_threads

if TYPE_CHECKING:
    from clothing.fetch import Fetcher

RESERVED_SECONDS = 1.0  # of the function's remaining time, kept for decoding and inference
ANSWER_SECONDS = 0.5  # of the same, kept for inference and the answer once the picture is decoded
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


class Service:
    """The model, the image fetcher and the limits, built once; ``answer`` serves one request."""

    def __init__(self, settings: Settings, logger: logging.Logger):
        self.settings = settings
        self.logger = logger
        memory_mb = settings.memory_mb
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
        ipaddress are a part of a cold start (``python -m benchmarks.startup`` measures it) that a picture sent
        in the request never needs (SnapStart's priming makes it before the snapshot)."""
        from clothing.addresses import AddressPolicy  # noqa: PLC0415
        from clothing.fetch import Fetcher  # noqa: PLC0415

        settings = self.settings
        return Fetcher(AddressPolicy(allow_private=settings.allow_private_urls, ports=settings.allowed_ports),
                       max_bytes=settings.max_image_bytes, connect_timeout=settings.connect_timeout,
                       max_redirects=settings.max_redirects)

    def answer(self, request: Request, remaining_seconds: float | None = None, route: str = "direct") -> Answer:
        """Fetch or decode, classify; every failure becomes an error answer, never an exception.

        ``remaining_seconds`` is the platform's own deadline where it tells one (Lambda does): the download is
        cut short to leave time for the rest, and a decode that would outlast it is refused or stopped.
        ``route`` is where the answer goes (``clothing.lambda_events``): its metrics count under it.
        """
        started = time.perf_counter()
        try:
            scores, timings = self.classify(request, remaining_seconds)
        except Exception as error:  # noqa: BLE001 - every failure becomes an error answer
            return self.refused(error, route, started)
        prediction = max(scores, key=scores.__getitem__)
        self.logger.info("classified", extra={"fields": {**timings, "prediction": prediction, "route": route},
                                              "metrics": answer_metrics(started, 200, scores[prediction])})
        return Answer(200, scores)

    def refused(self, error: Exception, route: str, started: float | None = None) -> Answer:
        """The error answer to a request that failed, logged with its metrics: its own status for a
        ClothingError, an InternalError, logged with its traceback, for anything else."""
        started = time.perf_counter() if started is None else started
        if isinstance(error, ClothingError):
            self.logger.warning(error.message, extra={"fields": {"error_type": error.error_type,
                                                                 "status": error.status, "route": route},
                                                      "metrics": answer_metrics(started, error.status)})
            return Answer(error.status, error_body(error))
        failure = ClothingError("unexpected error; it is logged under this request's id")
        self.logger.error("unexpected error", exc_info=error, extra={
            "fields": {"status": failure.status, "route": route}, "metrics": answer_metrics(started, failure.status)})
        return Answer(failure.status, error_body(failure))

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
