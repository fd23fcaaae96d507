"""Structured logs: one JSON object a line on stdout, which Lambda sends to CloudWatch.

Every line carries the invocation's fields under the names Powertools for AWS
Lambda uses (``function_request_id``, ``cold_start``, ``xray_trace_id``), so
log queries written for Powertools work here. Powertools itself is not used:
importing it adds to every cold start as much as a large part of this
function's own start-up (``python -X importtime -c "import aws_lambda_powertools"``
measures it); the standard library does the same here.

On Lambda each answer's line also carries CloudWatch's Embedded Metric Format (the ``_aws`` member, as
Powertools' Metrics writes it): CloudWatch turns the line into metrics with no API call and no import. Few
dimensions, since each combination of their values is a custom metric billed by the month: the service and
the route the answer went by (``api``, ``catalog``, ``check`` for the pre-traffic check's API-shaped events,
``direct``), so that the API's alarms and panels read the API's answers alone; with the prediction too for the
mix of classes (ten values); and, for the API's answers only, with the function's version for the two metrics
a gradual rollout's alarms judge the new version by (``ROLLBACK_METRICS``). A cold start is counted once per
invocation, on its first answer, however many pictures a catalog batch holds.

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
        self._cold_start_uncounted = False  # this invocation is a cold start whose metric no line carried yet

    def start(self, context: object) -> None:
        self._fields.set({
            "cold_start": self._cold,
            "function_request_id": getattr(context, "aws_request_id", None),
            "xray_trace_id": xray_trace_id(),
        })
        self._cold_start_uncounted = self._cold
        self._cold = False

    def restored(self) -> None:
        """A copy restored from a SnapStart snapshot: its first invocation is its cold start."""
        self._cold = True

    def filter(self, record: logging.LogRecord) -> bool:
        record.invocation = self._fields.get() or {}
        if getattr(record, "metrics", None) and record.invocation:
            record.metrics = {**record.metrics, "ColdStart": (int(self._cold_start_uncounted), "Count")}
            self._cold_start_uncounted = False
        return True


METRICS_NAMESPACE = "ClothingClassifier"
ROLLBACK_METRICS = ("Latency", "ServerErrors")  # by version too, for the API's answers (template.yaml's alarms)


def embedded_metrics(entry: dict, metrics: dict[str, tuple[float, str]], timestamp_ms: int) -> dict:
    """The members that make a log line CloudWatch metrics: each metric's value, and the ``_aws`` directive
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
    ``metrics`` maps a name to its value and unit; a line with a ``prediction`` also counts one answer of it.
    ``entry`` names the ``route`` the answer went by and the ``version`` that gave it."""
    by_route = ["service", "route"]
    directives = [{"Namespace": METRICS_NAMESPACE, "Dimensions": [by_route],
                   "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()]}]
    members = {name: value for name, (value, _) in metrics.items()}
    if entry.get("route") == "api":
        directives.append({"Namespace": METRICS_NAMESPACE, "Dimensions": [[*by_route, "version"]],
                           "Metrics": [{"Name": name, "Unit": metrics[name][1]} for name in ROLLBACK_METRICS]})
    if "prediction" in entry:
        directives.append({"Namespace": METRICS_NAMESPACE, "Dimensions": [[*by_route, "prediction"]],
                           "Metrics": [{"Name": "Answers", "Unit": "Count"}]})
        members["Answers"] = 1
    return {**members, "_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}}


class JsonFormatter(logging.Formatter):
    """Level, message, UTC time, location, the invocation's fields, the record's ``fields`` and any traceback;
    with ``metrics``, the record's ``metrics`` as Embedded Metric Format."""

    converter = time.gmtime

    def __init__(self, service: str, level_key: str = "level", metrics: bool = False):
        super().__init__()
        self.service = service
        self.level_key = level_key
        self.metrics = metrics
        self.version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")  # the version Lambda runs

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
        if self.metrics and getattr(record, "metrics", None):
            entry["version"] = self.version
            entry.update(embedded_metrics(entry, record.metrics, int(record.created * 1000)))
        return json.dumps(entry, default=str)


def json_logger(service: str, level_key: str = "level",
                metrics: bool = False) -> tuple[logging.Logger, InvocationFields]:
    """A logger that writes JSON lines to stdout at LOG_LEVEL (default INFO), and its invocation fields; with
    ``metrics``, lines that carry metrics in Embedded Metric Format."""
    invocation = InvocationFields()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service, level_key, metrics))
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
