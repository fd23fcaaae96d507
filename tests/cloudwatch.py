"""CloudWatch as far as the template's alarms need it, modelled from AWS's pages, since no stand-in evaluates
alarms (moto stores them and never changes their state):

- Embedded Metric Format: a log line becomes one data point for each metric in each of its directive's
  dimension sets, and a metric is its namespace, name and exact set of dimensions
  (CloudWatch_Embedded_Metric_Format_Specification.html; "CloudWatch concepts", Dimensions: "CloudWatch
  treats each unique combination of dimensions as a separate metric").
- An alarm takes its statistic over each period, and the last ``EvaluationPeriods`` of them; it is in ALARM
  when ``DatapointsToAlarm`` of them breach; with ``TreatMissingData: notBreaching`` a period with no data
  breaches nothing ("Using Amazon CloudWatch alarms", Evaluating an alarm, and Configuring how alarms treat
  missing data).
- Metric math: ``FILL(m, value)`` gives a period with no data that value; an arithmetic of series with no value
  at a period has none there ("Using metric math", FILL and arithmetic operators).
"""

import ast
import math
from collections import defaultdict

Metric = tuple[str, str, frozenset]  # namespace, name, dimensions as (name, value) pairs


class Metrics:
    """Data points by metric and by minute, as CloudWatch holds them once ingested."""

    def __init__(self):
        self.points: dict[Metric, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))

    def put(self, namespace: str, name: str, dimensions: dict[str, str], minute: int, value: float) -> None:
        self.points[(namespace, name, frozenset(dimensions.items()))][minute].append(value)

    def put_log_line(self, line: dict, minute: int) -> None:
        """A log line's Embedded Metric Format: each metric under each dimension set, the values its members."""
        for directive in line.get("_aws", {}).get("CloudWatchMetrics", []):
            for dimensions in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    self.put(directive["Namespace"], metric["Name"], {d: line[d] for d in dimensions}, minute,
                             line[metric["Name"]])

    def series(self, namespace: str, name: str, dimensions: dict[str, str], stat: str, period_minutes: int,
               last_minute: int) -> dict[int, float]:
        """The statistic of each period ending at or before ``last_minute`` that has data, by its last minute."""
        minutes = self.points.get((namespace, name, frozenset(dimensions.items())), {})
        values = {}
        for end in range(last_minute, -1, -period_minutes):
            samples = [v for minute in range(end - period_minutes + 1, end + 1) for v in minutes.get(minute, [])]
            if samples:
                values[end] = statistic(samples, stat)
        return values


def statistic(samples: list[float], stat: str) -> float:
    if stat == "Sum":
        return sum(samples)
    if stat == "Average":
        return sum(samples) / len(samples)
    if stat == "Maximum":
        return max(samples)
    if stat.startswith("p"):  # nearest rank
        ordered = sorted(samples)
        return ordered[max(0, math.ceil(float(stat[1:]) / 100 * len(ordered)) - 1)]
    raise ValueError(f"statistic {stat} is not modelled")


COMPARE = {"GreaterThanThreshold": float.__gt__, "GreaterThanOrEqualToThreshold": float.__ge__,
           "LessThanThreshold": float.__lt__, "LessThanOrEqualToThreshold": float.__le__}


def dimension_values(dimensions: list[dict]) -> dict[str, str]:
    return {d["Name"]: d["Value"] for d in dimensions}


def alarm_series(alarm: dict, metrics: Metrics, last_minute: int) -> tuple[dict[int, float], int]:
    """The values the alarm compares with its threshold, by period, and its period in minutes."""
    if "MetricName" in alarm:
        period = int(alarm["Period"]) // 60
        stat = alarm.get("ExtendedStatistic") or alarm["Statistic"]
        return metrics.series(alarm["Namespace"], alarm["MetricName"], dimension_values(alarm["Dimensions"]), stat,
                              period, last_minute), period
    queries, period = {}, None
    for query in alarm["Metrics"]:
        if "MetricStat" in query:
            stat = query["MetricStat"]
            period = int(stat["Period"]) // 60
            metric = stat["Metric"]
            queries[query["Id"]] = metrics.series(metric["Namespace"], metric["MetricName"],
                                                  dimension_values(metric["Dimensions"]), stat["Stat"], period,
                                                  last_minute)
    [returned] = [query for query in alarm["Metrics"] if query.get("ReturnData", True)]
    ends = range(last_minute, -1, -period)
    return {end: value for end in ends
            if (value := expression(ast.parse(returned["Expression"], mode="eval").body, queries, end)) is not None}, \
        period


def expression(node: ast.AST, queries: dict[str, dict[int, float]], end: int) -> float | None:
    """FILL, numbers, query ids, + and -: what the template's expressions use."""
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return queries[node.id].get(end)
    if isinstance(node, ast.Call) and node.func.id == "FILL":
        value = expression(node.args[0], queries, end)
        return expression(node.args[1], queries, end) if value is None else value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
        left, right = expression(node.left, queries, end), expression(node.right, queries, end)
        if left is None or right is None:
            return None
        return left + right if isinstance(node.op, ast.Add) else left - right
    raise ValueError(f"metric math {ast.unparse(node)} is not modelled")


def in_alarm(alarm: dict, metrics: Metrics, last_minute: int) -> bool:
    """Whether the alarm is in ALARM when evaluated at the end of ``last_minute``."""
    values, period = alarm_series(alarm, metrics, last_minute)
    periods = int(alarm["EvaluationPeriods"])
    window = [values.get(last_minute - i * period) for i in range(periods)]
    if alarm.get("TreatMissingData", "missing") != "notBreaching":
        raise ValueError("only TreatMissingData: notBreaching is modelled")
    threshold = float(alarm["Threshold"])
    breaching = sum(value is not None and COMPARE[alarm["ComparisonOperator"]](float(value), threshold)
                    for value in window)
    return breaching >= int(alarm.get("DatapointsToAlarm", periods))
