"""AWS Lambda entry point: which of ten clothing categories an image shows.

The settings and the interpreter are built here at module scope, once per cold
start, in ``clothing.service``; each event is taken apart and answered by
``clothing.lambda_events``, and the service fetches or decodes, and runs the
model (the HTTP client is made on the first URL). ``main.py`` (Google) and
``function_app.py`` (Azure) are the same function's entries on the other
platforms.

Start-up makes a few hundred thousand objects (NumPy, Pillow, LiteRT, this
code) and frees almost none, so the garbage collector's passes over them are
wasted: it is off while the module loads (``python -m benchmarks.startup``
measures the difference). What start-up made is then frozen out of later
collections, so no warm request scans it either.

With SnapStart, Lambda runs this start-up once per published version and snapshots it; the hooks in
``clothing.snapstart`` are registered only then. A catalog batch (``clothing.catalog``) imports boto3 on the
first batch.
"""

import gc
import os

gc.disable()

from clothing import lambda_events
from clothing.logs import json_logger
from clothing.service import Service
from clothing.settings import Settings

# CloudWatch metrics from each answer, under the function's name: two stacks in one account keep theirs apart.
logger, invocation = json_logger(os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "clothing-classifier"), metrics=True)
service = Service(Settings.from_environment(), logger)
if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":  # SnapStart=on: see clothing.snapstart
    from clothing import snapstart

    snapstart.register(service, invocation)
gc.freeze()
gc.enable()


def lambda_handler(event: dict, context: object = None) -> dict:
    """Scores for each class, or an error object; wrapped as an HTTP response for proxy events."""
    invocation.start(context)
    return lambda_events.handle(event, service, lambda: remaining_seconds(context))


def remaining_seconds(context: object) -> float | None:
    """The invocation's time left, from Lambda's context; None when called without one."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    return None if remaining_ms is None else remaining_ms() / 1000
