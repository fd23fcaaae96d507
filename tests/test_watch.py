"""make watch reads what the function's own log lines put into CloudWatch, against moto's CloudWatch.

The function answers real pictures in a fresh process; each Embedded Metric Format line becomes the metrics
CloudWatch makes of it (the specification's rule: each directive's metrics, under each of its dimension sets,
valued from the line's members). moto computes no percentile statistics, which CloudWatch does (CloudWatch
User Guide, "Statistics definitions": pNN is the value below which NN% of the data points fall), so they are
added to it here by that definition.
"""

import json
import math

import boto3
import pytest
from moto import mock_aws
from moto.cloudwatch.models import Statistics

from deploy import watch
from tests.conftest import AWS_CREDENTIALS, IMAGES
from tests.test_metrics import log_lines

FUNCTION = "clothing-classifier"  # the function's name in its log lines outside Lambda


def percentile(values: list[float], stat: str) -> float:
    ranked = sorted(values)
    return ranked[max(0, math.ceil(float(stat[1:]) / 100 * len(ranked)) - 1)]


@pytest.fixture
def cloudwatch(monkeypatch):
    for name, value in AWS_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    original = Statistics.get_statistics_for_type
    monkeypatch.setattr(Statistics, "get_statistics_for_type", lambda self, stat: percentile(
        self.metric_single_values_list, stat) if stat.startswith("p") else original(self, stat))
    with mock_aws():
        yield boto3.client("cloudwatch")


def put_embedded_metrics(cloudwatch, line: dict) -> None:
    """What CloudWatch makes of one log line in Embedded Metric Format."""
    aws = line["_aws"]
    for directive in aws["CloudWatchMetrics"]:
        for dimensions in directive["Dimensions"]:
            cloudwatch.put_metric_data(Namespace=directive["Namespace"], MetricData=[
                {"MetricName": metric["Name"], "Value": float(line[metric["Name"]]), "Unit": metric["Unit"],
                 "Timestamp": aws["Timestamp"] / 1000,
                 "Dimensions": [{"Name": name, "Value": line[name]} for name in dimensions]}
                for metric in directive["Metrics"]])


@pytest.fixture(scope="module")
def answered() -> list[dict]:
    import base64

    from tests.test_metrics import proxy_event

    pictures = [base64.b64encode(path.read_bytes()).decode() for path in sorted(IMAGES.glob("*.jpg"))]
    events = [proxy_event(picture) for picture in pictures]
    events.insert(3, proxy_event("bm90IGEgcGljdHVyZQ=="))  # a request refused with 422
    events.append({"image": pictures[0]})  # a direct invocation: not the API's, not counted here
    return [line for line in log_lines(*events) if "_aws" in line]


def deploy_stack(errors_alarm: str = "OK", latency_alarm: str = "OK") -> None:
    """A stack with the project's FunctionName output in moto's CloudFormation, and three of its four alarms
    (moto's CloudFormation makes no alarms: they are put as the template names them)."""
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {"FunctionName": {"Value": FUNCTION}}}
    boto3.client("cloudformation").create_stack(StackName="clothing", TemplateBody=json.dumps(template))
    cloudwatch = boto3.client("cloudwatch")
    for name in ("new-version-errors", "new-version-latency", "low-confidence"):
        cloudwatch.put_metric_alarm(AlarmName=f"clothing-{name}", Namespace="AWS/Lambda", MetricName="Errors",
                                    Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=0,
                                    ComparisonOperator="GreaterThanThreshold")
    for name, state in (("new-version-errors", errors_alarm), ("new-version-latency", latency_alarm),
                        ("low-confidence", "INSUFFICIENT_DATA")):
        cloudwatch.set_alarm_state(AlarmName=f"clothing-{name}", StateValue=state, StateReason="test")


def test_watch_prints_the_answers_per_class_latency_errors_and_alarms(cloudwatch, answered, capsys):
    for line in answered:
        put_embedded_metrics(cloudwatch, line)
    deploy_stack(errors_alarm="ALARM")
    assert watch.main(["--stack", "clothing"]) == 0
    printed = capsys.readouterr().out.splitlines()
    predictions = [line["prediction"] for line in answered if "prediction" in line and line["route"] == "api"]
    assert printed[1] == f"answers: {len(predictions)}"
    shown = {row.split()[0]: int(row.split()[1]) for row in printed[2:2 + len(set(predictions))]}
    assert shown == {name: predictions.count(name) for name in set(predictions)}
    latencies = [line["Latency"] for line in answered if line["route"] == "api"]
    assert printed[-4] == "latency: " + ", ".join(f"{p} {percentile(latencies, p):.0f} ms"
                                                  for p in ("p50", "p90", "p99"))
    assert printed[-3] == ("errors: 0 the function's own, 0 from image hosts, 1 refused requests (4xx); "
                           "Lambda: 0 errors, 0 throttles")
    assert printed[-2] == "catalog: 0 pictures classified, 0 refused, 0 unread (S3 failed), 0 failed"
    assert printed[-1] == ("alarms: new-version-errors ALARM, new-version-server-errors missing, "
                           "new-version-latency OK, capacity missing, api-server-errors missing, "
                           "low-confidence INSUFFICIENT_DATA")


def test_a_quiet_hour_says_so(cloudwatch, capsys):
    deploy_stack()
    assert watch.main(["--stack", "clothing"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[1:3] == ["answers: 0", "latency: no answers"]


def test_a_stack_that_is_not_there_is_one_line(cloudwatch, capsys):
    assert watch.main(["--stack", "never-deployed"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no stack 'never-deployed'" in error and "Traceback" not in error
