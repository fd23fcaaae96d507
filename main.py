"""Google Cloud Functions entry point: the same classifier as ``lambda_function.py``.

An HTTP function for ``functions-framework`` (entry point ``predict``): it hands
Flask's request to ``clothing.http_requests`` and returns its answer as it is. Logs
are JSON lines with ``severity``, the field Cloud Logging reads as the level.
``make package-gcf`` puts this file, as ``main.py``, in ``build/gcf/``.
"""

import flask

from clothing.http_requests import answer_http
from clothing.logs import json_logger
from clothing.service import Service
from clothing.settings import Settings

logger, _ = json_logger("clothing-classifier", level_key="severity")
service = Service(Settings.from_environment(), logger)


def predict(request: flask.Request) -> flask.Response:
    """The scores for a POSTed picture or URL, the page for a GET, or an error object."""
    answer = answer_http(service, request.method, request.content_type or "", request.content_length,
                         request.stream.read)
    return flask.Response(answer.body, answer.status, answer.headers)
