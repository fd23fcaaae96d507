"""Structured logs: one JSON object a line on stdout, which Lambda sends to CloudWatch.

Every line carries the invocation's fields under the names Powertools for AWS
Lambda uses (``function_request_id``, ``cold_start``, ``xray_trace_id``), so
log queries written for Powertools work here. Powertools itself is not used:
importing it adds about 60 ms to every cold start
(``python -X importtime -c "import aws_lambda_powertools"``), a sixth of this
function's whole start-up; the standard library does the same here.
"""

import json
import logging
import os
import sys
import time
from contextvars import ContextVar

TRACE_VARIABLE = "_X_AMZN_TRACE_ID"  # set by the Lambda runtime for each invocation when tracing is on


def xray_trace_id() -> str | None:
    """The ``Root`` of the invocation's X-Ray trace header, as Powertools logs it."""
    header = os.environ.get(TRACE_VARIABLE, "")
    return next((part[5:] for part in header.split(";") if part.startswith("Root=")), None)


class InvocationFields(logging.Filter):
    """Puts the current invocation's fields on every record; ``start`` is called once per invocation."""

    def __init__(self):
        super().__init__()
        self._fields: ContextVar[dict | None] = ContextVar("invocation", default=None)
        self._cold = True

    def start(self, context: object) -> None:
        self._fields.set({
            "cold_start": self._cold,
            "function_request_id": getattr(context, "aws_request_id", None),
            "xray_trace_id": xray_trace_id(),
        })
        self._cold = False

    def filter(self, record: logging.LogRecord) -> bool:
        record.invocation = self._fields.get() or {}
        return True


class JsonFormatter(logging.Formatter):
    """Level, message, UTC time, location, the invocation's fields, the record's ``fields`` and any traceback."""

    converter = time.gmtime

    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "level": record.levelname,
            "message": record.getMessage(),
            "timestamp": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "service": self.service,
            "location": f"{record.module}.{record.funcName}:{record.lineno}",
            **getattr(record, "invocation", {}),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def json_logger(service: str) -> tuple[logging.Logger, InvocationFields]:
    """A logger that writes JSON lines to stdout at LOG_LEVEL (default INFO), and its invocation fields."""
    invocation = InvocationFields()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(invocation)
    logger = logging.getLogger(service)
    logger.handlers[:] = [handler]
    logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    logger.propagate = False  # the Lambda runtime's own handler would print it a second time
    return logger, invocation
