"""AWS Lambda entry point: which of ten clothing categories an image shows.

Everything expensive (settings, the interpreter, the HTTP client's policy)
is built here at module scope, once per cold start; each request only
parses, fetches or decodes, and runs the model.

Start-up makes a few hundred thousand objects (NumPy, Pillow, LiteRT, this
code) and frees almost none, so the garbage collector's passes over them are
wasted: it is off while the module loads, about 25 ms less cold start
(``python -m benchmarks.startup``). What start-up made is then frozen out of
later collections, so no warm request scans it either.
"""

import gc

gc.disable()

import os
import time

from clothing.addresses import AddressPolicy
from clothing.classifier import Classifier
from clothing.errors import ClothingError, UpstreamTimeout
from clothing.events import Request, error_body, is_page_request, is_proxy_event, parse_event, respond
from clothing.fetch import Fetcher
from clothing.images import decode_image
from clothing.logs import json_logger
from clothing.settings import Settings, interpreter_threads

RESERVED_SECONDS = 1.0  # of the function's remaining time, kept for decoding and inference

settings = Settings.from_environment()
logger, invocation = json_logger("clothing-classifier")
threads, threads_reason = interpreter_threads(settings.interpreter_threads,
                                              os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))
classifier = Classifier(settings.model_path, threads)
fetcher = Fetcher(
    AddressPolicy(allow_private=settings.allow_private_urls, ports=settings.allowed_ports),
    max_bytes=settings.max_image_bytes,
    connect_timeout=settings.connect_timeout,
    max_redirects=settings.max_redirects,
)
logger.info("ready", extra={"fields": {"model": os.path.basename(settings.model_path), "labels": len(classifier.labels),
                                       "interpreter_threads": threads, "threads_reason": threads_reason}})
gc.freeze()
gc.enable()


def lambda_handler(event: dict, context: object = None) -> dict:
    """Scores for each class, or an error object; wrapped as an HTTP response for proxy events."""
    invocation.start(context)
    if is_page_request(event):
        from clothing.page import page_response  # read on the first GET, never at cold start

        return page_response()
    is_proxy = is_proxy_event(event)
    try:
        request = parse_event(event, settings.max_image_bytes)
        scores, timings = classify(request, context)
    except ClothingError as error:
        logger.warning(error.message, extra={"fields": {"error_type": error.error_type, "status": error.status}})
        return respond(error_body(error), is_proxy, error.status)
    except Exception:
        logger.exception("unexpected error")
        error = ClothingError("unexpected error; it is logged under this request's id")
        return respond(error_body(error), is_proxy, error.status)
    logger.info("classified", extra={"fields": {**timings, "prediction": max(scores, key=scores.__getitem__)}})
    return respond(scores, is_proxy)


def classify(request: Request, context: object) -> tuple[dict[str, float], dict[str, float]]:
    """The class scores for one request, and how many milliseconds each stage took."""
    started = time.perf_counter()
    data = request.image if request.url is None else fetcher.fetch(request.url, fetch_timeout(context))
    fetched = time.perf_counter()
    picture = decode_image(data, classifier.input_size, settings.max_image_pixels, settings.max_decode_bytes)
    decoded = time.perf_counter()
    scores = classifier.classify(picture)
    done = time.perf_counter()
    timings = {
        "fetch_ms": round((fetched - started) * 1000, 1),
        "decode_ms": round((decoded - fetched) * 1000, 1),
        "inference_ms": round((done - decoded) * 1000, 1),
    }
    return scores, timings


def fetch_timeout(context: object) -> float:
    """The download's deadline: the configured one, cut short by the function's own."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if remaining_ms is None:
        return settings.fetch_timeout
    timeout = min(settings.fetch_timeout, remaining_ms() / 1000 - RESERVED_SECONDS)
    if timeout <= 0:
        raise UpstreamTimeout("too little of the function's time is left to download the image")
    return timeout
