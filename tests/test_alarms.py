"""Which of the template's alarms fire, and which of them roll a gradual rollout back, for what AWS would emit.

The alarms are those SAM's transform outputs (tests/sam_template.py); CloudWatch's evaluation of them is
modelled from AWS's pages (tests/cloudwatch.py). The function's own metrics come from its real log lines: the
handler runs in a fresh process as Lambda's version 7, broken where a scenario says. What AWS's services
emit around it is written from their pages:
- API Gateway answers 500 itself "if the Lambda API rejects the invocation request" (a throttle, an event over
  the 6 MB invoke limit), before the function runs ("Handling Lambda errors with an API Gateway API"); its
  Count and 5XXError are published by ApiName and Stage ("Amazon API Gateway dimensions and metrics").
- Lambda counts a throttle in Throttles, and a failed invocation in Errors, under FunctionName, under
  FunctionName and Resource (the alias), and a version's invocation also under ExecutedVersion ("Types of
  metrics for Lambda functions"; a throttled invocation ran no version).
- Log lines reach CloudWatch Logs, and their metrics CloudWatch, some time after the answer; API Gateway's and
  Lambda's own metrics do not wait for them.
"""

import base64
import json
import subprocess
import sys

import pytest

from tests.cloudwatch import Metrics, in_alarm
from tests.conftest import IMAGES, ROOT
from tests.sam_template import deployed_resources, substituted

STACK, FUNCTION, VERSION, STAGE = "clothing", "clothing-ClassifierFunction-abc", "7", "test"
API = {"ApiName": f"{STACK}-api", "Stage": STAGE}
PICTURE = base64.b64encode((IMAGES / "pants-1.jpg").read_bytes()).decode()

# The handler, one event a line from stdin, in version 7 of the function, broken as argv[1] says; image hosts
# fail, and the catalog's bucket fails too when argv[2] is "down" or sends pants-1.jpg when it is "up".
HANDLE = """
import json, sys, time
import lambda_function
from clothing import catalog
from clothing.errors import UpstreamError

service, mode, bucket = lambda_function.service, sys.argv[1], sys.argv[2]
classify = service.classifier.classify
if mode == "failing":  # a bug in the new version: every answer is its own 500
    def broken(picture):
        raise RuntimeError("a bug")
    service.classifier.classify = broken
elif mode == "slow":
    def slow(picture):
        time.sleep(0.15)
        return classify(picture)
    service.classifier.classify = slow
class Down:  # an image host, or the catalog's bucket, that fails
    def fetch(self, url, timeout):
        raise UpstreamError("the image host answered 503")
    def read(self, key, seconds):
        if bucket == "up":
            return open("tests/images/pants-1.jpg", "rb").read()
        raise UpstreamError("the catalog bucket answered with an error (SlowDown)")
service.__dict__["fetcher"] = Down()
catalog._bucket = Down()
for line in sys.stdin:
    lambda_function.lambda_handler(json.loads(line), None)
"""


def picture_request() -> dict:
    return {"httpMethod": "POST", "headers": {"Content-Type": "application/json"}, "body": json.dumps(
        {"image": PICTURE}), "requestContext": {"stage": STAGE}}


def url_request() -> dict:
    return {"httpMethod": "POST", "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"url": "https://images.example.com/a.jpg"}), "requestContext": {"stage": STAGE}}


def catalog_batch(size: int) -> dict:
    return {"Items": [{"Key": f"catalog/{n}.jpg"} for n in range(size)]}


def function_lines(mode: str, events: list[dict], bucket: str) -> list[dict]:
    """The metric lines of version 7 answering the events."""
    env = {"PATH": "/usr/bin:/bin", "AWS_LAMBDA_FUNCTION_NAME": FUNCTION, "AWS_LAMBDA_FUNCTION_VERSION": VERSION,
           "CATALOG_BUCKET": "shop-catalog", "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run([sys.executable, "-c", HANDLE, mode, bucket], cwd=ROOT, env=env, capture_output=True,
                            text=True, input="".join(json.dumps(event) + "\n" for event in events), timeout=120)
    assert result.returncode == 0, result.stderr
    return [line for line in map(json.loads, filter(None, result.stdout.splitlines())) if "_aws" in line]


class Account:
    """What CloudWatch holds: the function's log lines' metrics once ingested, and AWS's own metrics."""

    def __init__(self):
        self.metrics = Metrics()
        self.late_lines: list[tuple[dict, int]] = []  # not yet ingested

    def function_answered(self, mode: str, events: list[dict], minute: int, ingested: bool = True,
                          bucket: str = "down") -> None:
        for line in function_lines(mode, events, bucket):
            if ingested:
                self.metrics.put_log_line(line, minute)
            else:
                self.late_lines.append((line, minute))
            if line["route"] == "api":  # API Gateway passes the function's status on, and counts it
                self.api_answered(minute, line.get("status", 200))
            self.invoked(minute)

    def api_answered(self, minute: int, status: int) -> None:
        self.metrics.put("AWS/ApiGateway", "Count", API, minute, 1)
        self.metrics.put("AWS/ApiGateway", "5XXError", API, minute, int(status >= 500))
        self.metrics.put("AWS/ApiGateway", "4XXError", API, minute, int(400 <= status < 500))

    def lambda_counts(self, name: str, minute: int, version: str | None) -> None:
        alias = {"FunctionName": FUNCTION, "Resource": f"{FUNCTION}:live"}
        for dimensions in ({"FunctionName": FUNCTION}, alias, *([{**alias, "ExecutedVersion": version}]
                                                               if version else [])):
            self.metrics.put("AWS/Lambda", name, dimensions, minute, 1)

    def invoked(self, minute: int) -> None:
        self.lambda_counts("Invocations", minute, VERSION)

    def throttled(self, minute: int, via_api: bool) -> None:
        self.lambda_counts("Throttles", minute, None)
        if via_api:
            self.api_answered(minute, 500)

    def refused_as_too_large(self, minute: int) -> None:
        """A picture of over about 4.4 MB, base64 in an event over Lambda's 6 MB: API Gateway's own 500."""
        self.api_answered(minute, 500)

    def crashed(self, minute: int) -> None:
        """The handler raised (or ran out of memory or time): Lambda's Errors, API Gateway's 502."""
        self.lambda_counts("Errors", minute, VERSION)
        self.api_answered(minute, 502)


def resolve(node, version_ids: set[str]):
    """The template's references, as CloudFormation gives them in this stack."""
    names = {"ClassifierFunction": FUNCTION, "ApiStage": STAGE, "AWS::StackName": STACK}
    if isinstance(node, list):
        return [resolve(item, version_ids) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        return names[node["Ref"]]
    if set(node) == {"Fn::Sub"}:
        return substituted(node["Fn::Sub"], names)
    if set(node) == {"Fn::GetAtt"}:
        assert node["Fn::GetAtt"][0] in version_ids and node["Fn::GetAtt"][1] == "Version", node
        return VERSION
    return {key: resolve(value, version_ids) for key, value in node.items()}


@pytest.fixture(scope="module")
def alarms() -> tuple[dict[str, dict], list[str]]:
    """Every alarm, resolved, and the names of those the deployment group rolls back on, for a canary with a
    latency budget the slow version misses."""
    resources = deployed_resources({"Rollout": "Canary10Percent5Minutes", "LatencyBudgetMs": "100"})
    versions = {name for name, r in resources.items() if r["Type"] == "AWS::Lambda::Version"}
    found = {name: resolve(r["Properties"], versions) for name, r in resources.items()
             if r["Type"] == "AWS::CloudWatch::Alarm"}
    group = resources["ClassifierFunctionDeploymentGroup"]["Properties"]["AlarmConfiguration"]
    return found, [alarm["Name"]["Ref"] for alarm in group["Alarms"]]


def firing(alarms, account: Account, minute: int) -> tuple[set[str], set[str]]:
    """The alarms in ALARM at the end of ``minute``, and those of them that roll back."""
    found, rollback = alarms
    fired = {name for name, alarm in found.items() if in_alarm(alarm, account.metrics, minute)}
    return fired, fired & set(rollback)


pytestmark = pytest.mark.process  # the function answers in a process of its own


def test_a_good_version_answering_pictures_fires_nothing(alarms):
    account = Account()
    for minute in range(3):
        account.function_answered("good", [picture_request()] * 2, minute)
    assert firing(alarms, account, 2) == (set(), set())


def test_throttles_from_the_api_and_a_catalog_run_are_a_capacity_alarm_and_roll_nothing_back(alarms):
    account = Account()
    account.function_answered("good", [picture_request()], 0)
    for _ in range(3):
        account.throttled(0, via_api=True)
        account.throttled(0, via_api=False)  # the catalog's invocations, which Step Functions retries
    fired, rollback = firing(alarms, account, 0)
    assert rollback == set()
    assert "CapacityAlarm" in fired


def test_an_upload_over_lambdas_invoke_limit_rolls_nothing_back(alarms):
    account = Account()
    for minute in range(5):
        account.function_answered("good", [picture_request()], minute)
    account.refused_as_too_large(4)
    assert firing(alarms, account, 4)[1] == set()


def test_image_hosts_failing_with_their_log_lines_not_yet_ingested_fire_nothing(alarms):
    """API Gateway's 5XXError arrives before the function's UpstreamErrors that would explain it."""
    account = Account()
    account.function_answered("good", [picture_request()] * 20, 0)
    account.function_answered("good", [url_request()], 0, ingested=False)
    assert firing(alarms, account, 0) == (set(), set())


def test_a_version_that_answers_500_is_rolled_back_even_while_a_catalog_run_fails_its_reads(alarms):
    """A catalog batch's S3 failures are the catalog's: they neither explain nor hide the API's 500s."""
    account = Account()
    account.function_answered("good", [catalog_batch(5)], 0)
    account.function_answered("failing", [picture_request()], 0)
    fired, rollback = firing(alarms, account, 0)
    assert rollback == {"NewVersionServerErrorsAlarm"}


def test_a_version_that_crashes_is_rolled_back(alarms):
    account = Account()
    account.crashed(0)
    assert firing(alarms, account, 0)[1] == {"NewVersionErrorsAlarm"}


def test_a_slow_version_is_rolled_back_and_a_slow_catalog_batch_is_not(alarms):
    slow, catalog = Account(), Account()
    for minute in range(3):
        slow.function_answered("slow", [picture_request()], minute)
        catalog.function_answered("slow", [catalog_batch(1)] * 2, minute, bucket="up")
        catalog.function_answered("good", [picture_request()], minute)
    assert firing(alarms, slow, 2)[1] == {"NewVersionLatencyAlarm"}
    assert firing(alarms, catalog, 2)[1] == set()
