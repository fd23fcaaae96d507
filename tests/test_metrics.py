"""Each answer's log line is CloudWatch Embedded Metric Format, checked against AWS's specification:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
The function runs in a fresh process, as Lambda starts it, and its stdout is read line by line."""

import base64
import json
import subprocess
import sys
import time

import jsonschema
import pytest

from clothing.service import LOW_CONFIDENCE, answer_metrics
from tests.conftest import IMAGES, LABELS, ROOT

# The specification's structure of the "_aws" member.
UNITS = ["Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
         "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
         "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
         "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"]
EMF = {
    "type": "object", "required": ["_aws"],
    "properties": {"_aws": {
        "type": "object", "required": ["Timestamp", "CloudWatchMetrics"],
        "properties": {
            "Timestamp": {"type": "integer", "minimum": 0},
            "CloudWatchMetrics": {"type": "array", "items": {
                "type": "object", "required": ["Namespace", "Dimensions", "Metrics"],
                "properties": {
                    "Namespace": {"type": "string", "minLength": 1, "maxLength": 1024},
                    "Dimensions": {"type": "array", "items": {
                        "type": "array", "maxItems": 30, "items": {"type": "string", "minLength": 1}}},
                    "Metrics": {"type": "array", "maxItems": 100, "items": {
                        "type": "object", "required": ["Name"],
                        "properties": {"Name": {"type": "string", "minLength": 1, "maxLength": 1024},
                                       "Unit": {"enum": UNITS}, "StorageResolution": {"enum": [1, 60]}}}}}}}}}},
}
ANSWER = """
import base64, json, sys
import lambda_function
for line in sys.stdin:
    lambda_function.lambda_handler(json.loads(line), None)
"""


def log_lines(*events: dict) -> list[dict]:
    result = subprocess.run([sys.executable, "-c", ANSWER], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            input="".join(json.dumps(event) + "\n" for event in events),
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def check_embedded_metrics(line: dict) -> list[str]:
    """The line against the specification; the names of the metrics it carries."""
    jsonschema.validate(line, EMF)
    names = []
    for directive in line["_aws"]["CloudWatchMetrics"]:
        for dimensions in directive["Dimensions"]:
            assert all(isinstance(line.get(name), str) for name in dimensions), dimensions  # values: strings
        for metric in directive["Metrics"]:
            value = line[metric["Name"]]  # each metric's value is a member of the root
            assert isinstance(value, int | float) and not isinstance(value, bool), metric
            names.append(metric["Name"])
    return names


@pytest.fixture(scope="module")
def lines() -> list[dict]:
    picture = base64.b64encode((IMAGES / "pants-1.jpg").read_bytes()).decode()
    return log_lines({"image": picture}, {"image": "bm90IGEgcGljdHVyZQ=="}, {"image": picture})


def test_every_answer_is_a_valid_embedded_metric_line(lines):
    answers = [line for line in lines if line["message"] != "ready"]
    assert len(answers) == 3
    for line in answers:
        check_embedded_metrics(line)
    assert "_aws" not in next(line for line in lines if line["message"] == "ready")


def test_a_classified_answer_counts_its_class_latency_confidence_and_cold_start(lines):
    first, _, warm = (line for line in lines if line["message"] != "ready")
    assert set(check_embedded_metrics(first)) == {"Latency", "ServerErrors", "UpstreamErrors", "ClientErrors",
                                                  "TopScore", "LowConfidence", "ColdStart", "Answers"}
    assert (first["ColdStart"], warm["ColdStart"]) == (1, 0)
    assert first["prediction"] in LABELS and first["Answers"] == 1
    assert 0 < first["TopScore"] <= 1 and first["LowConfidence"] == int(first["TopScore"] < LOW_CONFIDENCE)
    assert first["Latency"] > 0


def test_an_error_answer_counts_as_an_error_of_its_kind_and_not_as_a_class(lines):
    _, refused, _ = (line for line in lines if line["message"] != "ready")
    assert refused["status"] == 422
    assert (refused["ClientErrors"], refused["ServerErrors"], refused["UpstreamErrors"]) == (1, 0, 0)
    assert "prediction" not in refused and "Answers" not in check_embedded_metrics(refused)


def test_dimensions_stay_few_each_combination_being_a_billed_metric(lines):
    """The service and route, and with one of the model's labels: 1 + 10 combinations for a route; the API's
    answers also by version (two metrics), test_the_apis_answers_are_counted_apart_and_by_version."""
    dimension_sets = {tuple(dimensions) for line in lines if "_aws" in line
                      for directive in line["_aws"]["CloudWatchMetrics"] for dimensions in directive["Dimensions"]}
    assert dimension_sets == {("service", "route"), ("service", "route", "prediction")}
    assert {line["route"] for line in lines if "_aws" in line} == {"direct"}


def proxy_event(picture: str, stage: str = "test") -> dict:
    return {"httpMethod": "POST", "headers": {"Content-Type": "application/json"}, "isBase64Encoded": False,
            "body": json.dumps({"image": picture}), "requestContext": {"stage": stage}}


@pytest.mark.process
def test_the_apis_answers_are_counted_apart_and_by_version_and_the_checks_apart_from_the_apis():
    """The rollback's alarms read the API's answers of the new version alone (template.yaml): the pre-traffic
    check's API-shaped events, whose requestContext only the check writes, never count as the API's."""
    picture = base64.b64encode((IMAGES / "pants-1.jpg").read_bytes()).decode()
    api, check = (line for line in log_lines(proxy_event(picture), proxy_event(picture, "pre-traffic-check"))
                  if "_aws" in line)
    assert (api["route"], check["route"]) == ("api", "check")
    by_version = [d for d in api["_aws"]["CloudWatchMetrics"] if ["service", "route", "version"] in d["Dimensions"]]
    assert [[m["Name"] for m in d["Metrics"]] for d in by_version] == [["Latency", "ServerErrors"]]
    assert api["version"] == "$LATEST"  # AWS_LAMBDA_FUNCTION_VERSION, unset outside Lambda
    assert not any("version" in dims for d in check["_aws"]["CloudWatchMetrics"] for dims in d["Dimensions"])


@pytest.mark.parametrize(("status", "server", "upstream", "client"),
                         [(500, 1, 0, 0), (502, 0, 1, 0), (504, 0, 1, 0), (413, 0, 0, 1), (200, 0, 0, 0)])
def test_an_image_hosts_failure_is_counted_apart_from_the_functions_own(status, server, upstream, client):
    """The rollback's alarms count the function's own failures: an image host's 502 or 504 is not one."""
    metrics = answer_metrics(time.perf_counter(), status)
    assert (metrics["ServerErrors"][0], metrics["UpstreamErrors"][0], metrics["ClientErrors"][0]) == (
        server, upstream, client)
