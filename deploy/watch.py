"""make watch: what the deployed function answered the API lately, from CloudWatch: the answers per class, the
latency percentiles, the errors by kind, the catalog's pictures apart, and the state of each of the stack's
alarms.

    make watch                      # the last hour of the stack in samconfig.toml
    make watch ARGS="--hours 24 --stack other"

The figures are the metrics each answer's log line carries (clothing/logs.py) and Lambda's own; an alarm in
ALARM during a gradual rollout is what stops it and rolls it back (docs/rollout.md).
"""

import argparse
import sys
from datetime import UTC, datetime, timedelta

import boto3

from clothing.logs import METRICS_NAMESPACE
from deploy.preflight import credentials_problem
from deploy.stack import Refusal, outputs_of, said_in_one_line, stack_name

PERCENTILES = ("p50", "p90", "p99")
OWN_COUNTS = {"ServerErrors": "the function's own", "UpstreamErrors": "from image hosts",
              "ClientErrors": "refused requests (4xx)"}
LAMBDA_COUNTS = ("Errors", "Throttles")
CATALOG_COUNTS = {"ClientErrors": "refused", "UpstreamErrors": "unread (S3 failed)", "ServerErrors": "failed"}
ALARMS = ("new-version-errors", "new-version-server-errors", "new-version-latency", "capacity", "api-server-errors",
          "low-confidence")  # template.yaml's


def query(query_id: str, namespace: str, name: str, dimensions: dict[str, str], stat: str, period: int) -> dict:
    return {"Id": query_id, "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": namespace, "MetricName": name,
                   "Dimensions": [{"Name": key, "Value": value} for key, value in dimensions.items()]},
        "Period": period, "Stat": stat}}


def values_of(cloudwatch, queries: list[dict], start: datetime, end: datetime) -> dict[str, list[float]]:
    """Each query's values over the window, by its Id (a period the window's length gives one each)."""
    values: dict[str, list[float]] = {}
    for first in range(0, len(queries), 500):  # GetMetricData takes 500 queries a call
        paginator = cloudwatch.get_paginator("get_metric_data")
        for page in paginator.paginate(MetricDataQueries=queries[first:first + 500], StartTime=start, EndTime=end):
            for result in page["MetricDataResults"]:
                values.setdefault(result["Id"], []).extend(result["Values"])
    return values


def classes(cloudwatch, service: str, route: str) -> list[str]:
    """The predictions CloudWatch holds an Answers metric for, for this function's answers by this route."""
    paginator = cloudwatch.get_paginator("list_metrics")
    found = set()
    for page in paginator.paginate(Namespace=METRICS_NAMESPACE, MetricName="Answers",
                                   Dimensions=[{"Name": "service", "Value": service},
                                               {"Name": "route", "Value": route}]):
        for metric in page["Metrics"]:
            found |= {d["Value"] for d in metric["Dimensions"] if d["Name"] == "prediction"}
    return sorted(found)


def report(stack: str, hours: float, now: datetime | None = None) -> list[str]:
    """The lines make watch prints."""
    function = outputs_of(stack).get("FunctionName")
    if not function:
        raise Refusal(f"the stack {stack!r} has no FunctionName output: is it this project's?")
    alarms = [f"{stack}-{name}" for name in ALARMS]
    cloudwatch = boto3.client("cloudwatch")
    period = max(60, round(hours * 60) * 60)  # the whole window, in whole minutes as CloudWatch takes them
    end = (now or datetime.now(UTC)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - timedelta(seconds=period)
    service, catalog = {"service": function, "route": "api"}, {"service": function, "route": "catalog"}
    predictions, catalogued = classes(cloudwatch, function, "api"), classes(cloudwatch, function, "catalog")
    alias = {"FunctionName": function, "Resource": f"{function}:live"}
    queries = [query(f"count_class_{i}", METRICS_NAMESPACE, "Answers", {**service, "prediction": name}, "Sum",
                     period) for i, name in enumerate(predictions)]
    queries += [query(f"catalog_class_{i}", METRICS_NAMESPACE, "Answers", {**catalog, "prediction": name}, "Sum",
                      period) for i, name in enumerate(catalogued)]
    queries += [query(f"count_{name}", METRICS_NAMESPACE, name, service, "Sum", period) for name in OWN_COUNTS]
    queries += [query(f"catalog_{name}", METRICS_NAMESPACE, name, catalog, "Sum", period) for name in CATALOG_COUNTS]
    queries += [query(f"count_lambda_{name}", "AWS/Lambda", name, alias, "Sum", period) for name in LAMBDA_COUNTS]
    queries += [query(f"latency_{p}", METRICS_NAMESPACE, "Latency", service, p, period) for p in PERCENTILES]
    values = values_of(cloudwatch, queries, start, end)

    def summed(query_id: str) -> int:
        return int(sum(values.get(query_id, [])))

    lines = [f"{function}, {start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC"]
    answered = {name: summed(f"count_class_{i}") for i, name in enumerate(predictions)}
    total = sum(answered.values())
    lines.append(f"answers: {total:,}")
    for name, count in sorted(answered.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"  {name:<12} {count:>7,}  {100 * count / total:5.1f}%" if total else f"  {name:<12} 0")
    latency = ", ".join(f"{p} {values[f'latency_{p}'][0]:.0f} ms" for p in PERCENTILES if values.get(f"latency_{p}"))
    lines.append(f"latency: {latency or 'no answers'}")
    own = ", ".join(f"{summed(f'count_{name}'):,} {said}" for name, said in OWN_COUNTS.items())
    runtime = ", ".join(f"{summed(f'count_lambda_{name}'):,} {name.lower()}" for name in LAMBDA_COUNTS)
    lines.append(f"errors: {own}; Lambda: {runtime}")
    classified = sum(summed(f"catalog_class_{i}") for i in range(len(catalogued)))
    lines.append(f"catalog: {classified:,} pictures classified, " + ", ".join(
        f"{summed(f'catalog_{name}'):,} {said}" for name, said in CATALOG_COUNTS.items()))
    states = {a["AlarmName"]: a["StateValue"] for a in cloudwatch.describe_alarms(AlarmNames=alarms)["MetricAlarms"]}
    lines.append("alarms: " + ", ".join(f"{name.removeprefix(stack + '-')} {states.get(name, 'missing')}"
                                        for name in alarms))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make watch", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", help="the stack to watch (default: the one in samconfig.toml)")
    parser.add_argument("--hours", type=float, default=1.0, help="how far back (default 1)")
    args = parser.parse_args(argv)

    def watch() -> list[str]:
        if not 0 < args.hours <= 24 * 15:  # CloudWatch keeps one-minute data 15 days
            raise Refusal("--hours takes a number of hours above 0, at most 360 (15 days)")
        if problem := credentials_problem():
            raise Refusal(problem)
        return report(stack_name(args.stack), args.hours)

    lines = said_in_one_line("make watch", watch)
    if lines is None:
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
