"""Structured logs: one JSON object a line on stdout, which Lambda sends to CloudWatch.

Every line carries the invocation's fields under the names Powertools for AWS
Lambda uses (``function_request_id``, ``cold_start``, ``xray_trace_id``), so
log queries written for Powertools work here. Powertools itself is not used:
importing it adds about 60 ms to every cold start
(``python -X importtime -c "import aws_lambda_powertools"``), a sixth of this
function's whole start-up; the standard library does the same here.

The other platforms read logs their own way: Google Cloud Logging takes a
JSON line's ``severity`` as its level (``json_logger(level_key="severity")``),
and Azure's Python worker takes records from the standard ``logging`` tree
(``worker_logger``), so there the fields go into the message text.
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

    def restored(self) -> None:
        """A copy restored from a SnapStart snapshot: its first invocation is its cold start."""
        self._cold = True

    def filter(self, record: logging.LogRecord) -> bool:
        record.invocation = self._fields.get() or {}
        return True


class JsonFormatter(logging.Formatter):
    """Level, message, UTC time, location, the invocation's fields, the record's ``fields`` and any traceback."""

    converter = time.gmtime

    def __init__(self, service: str, level_key: str = "level"):
        super().__init__()
        self.service = service
        self.level_key = level_key

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            self.level_key: record.levelname,
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


def json_logger(service: str, level_key: str = "level") -> tuple[logging.Logger, InvocationFields]:
    """A logger that writes JSON lines to stdout at LOG_LEVEL (default INFO), and its invocation fields."""
    invocation = InvocationFields()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service, level_key))
    handler.addFilter(invocation)
    logger = logging.getLogger(service)
    logger.handlers[:] = [handler]
    logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    logger.propagate = False  # the Lambda runtime's own handler would print it a second time
    return logger, invocation


class FieldsInMessage(logging.Filter):
    """Appends a record's ``fields`` to its message as ``name=value`` pairs, for handlers that drop extras."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = getattr(record, "fields", None)
        if fields:
            pairs = " ".join(f"{name}={value}" for name, value in fields.items())
            record.msg, record.args, record.fields = f"{record.getMessage()} ({pairs})", (), None
        return True


def worker_logger(service: str) -> logging.Logger:
    """A logger at LOG_LEVEL whose records go up to the handlers of the host's worker (Azure's)."""
    logger = logging.getLogger(service)
    logger.handlers.clear()
    logger.filters[:] = [FieldsInMessage()]
    logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    logger.propagate = True
    return logger
