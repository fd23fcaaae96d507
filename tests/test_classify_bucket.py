"""make classify-bucket against AWS's APIs on 127.0.0.1 (moto's server; botocore's Stubber, which checks each
call against the service's model, where moto lacks the call): the checks before a run, the run followed to
its end, and ResultWriter's files turned into the JSON lines make classify writes."""

import io
import json
import subprocess
import sys

import boto3
import pytest
from botocore.stub import Stubber

from deploy import classify_bucket as cli
from deploy.stack import Refusal
from tests.conftest import AWS_CREDENTIALS, ROOT, aws_client

BUCKET = "shop-results"


def stack_template(results: str = f"s3://{BUCKET}/results/", catalog: int = 8, cap: int = 10) -> dict:
    """Only what make classify-bucket reads of the real stack: its parameters and outputs."""
    return {
        "Parameters": {"MaxConcurrency": {"Type": "Number", "Default": cap},
                       "CatalogConcurrency": {"Type": "Number", "Default": catalog}},
        "Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {"CatalogStateMachine": {"Value": "{arn}"}, "CatalogResults": {"Value": results}},
    }


@pytest.fixture(scope="module")
def endpoint(moto_endpoint):
    """A state machine, its results bucket in the stack's region, and stacks as make deploy would leave them."""
    aws_client("s3", moto_endpoint).create_bucket(Bucket=BUCKET)
    aws_client("s3", moto_endpoint).create_bucket(
        Bucket="results-in-ireland", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    arn = aws_client("stepfunctions", moto_endpoint).create_state_machine(
        name="clothing-catalog", roleArn="arn:aws:iam::123456789012:role/catalog",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}))["stateMachineArn"]
    cloudformation = aws_client("cloudformation", moto_endpoint)
    for name, template in {"clothing": stack_template(), "greedy": stack_template(catalog=10),
                           "far": stack_template(results="s3://results-in-ireland/results/"),
                           "no-catalog": {"Resources": stack_template()["Resources"]}}.items():
        cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template).replace("{arn}", arn))
    return moto_endpoint


def executions(endpoint: str) -> list[dict]:
    stepfunctions = aws_client("stepfunctions", endpoint)
    [machine] = stepfunctions.list_state_machines()["stateMachines"]
    return stepfunctions.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]


def classify_bucket(endpoint: str, *arguments: str, **variables: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", **AWS_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, **variables}
    return subprocess.run([sys.executable, "-m", "deploy.classify_bucket", *arguments], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_classify_bucket_starts_the_stacks_workflow_and_says_where_the_results_go(endpoint):
    result = classify_bucket(endpoint, "--stack", "clothing")
    assert result.returncode == 0, result.stderr
    started, results = result.stdout.splitlines()
    [execution] = executions(endpoint)
    assert started == f"started {execution['executionArn']}"
    assert results.startswith(f"results: s3://{BUCKET}/results/<map run id>/")

    waited = classify_bucket(endpoint, "--stack", "clothing", "--wait")
    assert waited.returncode == 1, waited.stderr
    assert waited.stdout.splitlines()[-1] == "ended: FAILED"

    refused = classify_bucket(endpoint, "--stack", "no-catalog")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "CatalogBucket" in refused.stderr
    missing = classify_bucket(endpoint, "--stack", "never-deployed")
    assert missing.returncode == 2 and "no stack 'never-deployed'" in missing.stderr


def test_a_run_that_would_take_every_instance_the_api_has_is_refused_before_it_starts(endpoint):
    before = len(executions(endpoint))
    result = classify_bucket(endpoint, "--stack", "greedy")
    assert result.returncode == 2 and result.stdout == "" and result.stderr.count("\n") == 1
    assert "CatalogConcurrency 10 would take 10 of the function's 10 instances and leave the API 0" in result.stderr
    assert "CatalogConcurrency=8" in result.stderr
    assert len(executions(endpoint)) == before


def test_without_a_cap_the_share_is_of_the_accounts_unreserved_concurrency():
    """GetAccountSettings, which moto lacks, through botocore's Stubber."""
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        for _ in range(2):
            stub.add_response("get_account_settings", {"AccountLimit": {"UnreservedConcurrentExecutions": 100}})
        assert cli.concurrency_problem({"MaxConcurrency": "0", "CatalogConcurrency": "80"}, client) is None
        problem = cli.concurrency_problem({"MaxConcurrency": "0", "CatalogConcurrency": "100"}, client)
    assert "of the account's unreserved 100 instances" in problem and "at most 80" in problem


def test_a_results_bucket_in_another_region_is_refused_before_anything_is_paid(endpoint):
    """ResultWriter fails the run at its end (States.ResultWriterFailed) when the bucket is in another region
    (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html)."""
    before = len(executions(endpoint))
    result = classify_bucket(endpoint, "--stack", "far")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "results-in-ireland is in eu-west-1 and the workflow in us-east-1" in result.stderr
    assert len(executions(endpoint)) == before


@pytest.mark.process
def test_out_needs_wait():
    result = subprocess.run([sys.executable, "-m", "deploy.classify_bucket", "--out", "r.jsonl"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--out needs --wait" in result.stderr


MAP_RUN = ("arn:aws:states:us-east-1:123456789012:mapRun:clothing-catalog/ClassifyCatalog:"
           "0c5c5ea5-1234-4b5c-9d3e-f0e1d2c3b4a5")
RUN_ID = MAP_RUN.rsplit(":", 1)[1]


def child(status: str, keys: list[str], output: dict | None = None) -> dict:
    """One child execution's entry in a result file, with the fields ResultWriter writes
    (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html)."""
    entry = {"ExecutionArn": f"arn:aws:states:us-east-1:123456789012:express:clothing-catalog/{RUN_ID}/x",
             "Input": json.dumps({"Items": [{"Key": key} for key in keys]}), "InputDetails": {"Included": True},
             "Name": "x", "StartDate": "2026-12-03T10:00:00.000Z", "StopDate": "2026-12-03T10:00:02.000Z",
             "StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:clothing-catalog",
             "Status": status, "RedriveCount": 0, "RedriveStatus": "NOT_REDRIVABLE"}
    if output is not None:
        entry |= {"Output": json.dumps(output), "OutputDetails": {"Included": True}}
    else:
        entry |= {"Error": "Lambda.ServiceException", "Cause": "{\"errorMessage\": \"internal detail\"}"}
    return entry


@pytest.mark.parametrize("prefix", ["results/", "labels/2026"])
def test_resultwriters_files_become_one_line_a_picture_as_make_classify_writes_them(endpoint, tmp_path, prefix):
    s3 = aws_client("s3", endpoint)
    folder = f"{prefix}{RUN_ID}/"  # ResultWriter's layout: <prefix><map run id>/
    scores = {"pants": 0.9, "shoes": 0.1}
    succeeded = [child("SUCCEEDED", ["catalog/a.jpg", "catalog/b.txt"], {"results": [
        {"input": "catalog/a.jpg", "scores": scores},
        {"input": "catalog/b.txt", "error": {"type": "NotAnImage", "message": "not a picture", "status": 422}}]})]
    failed = [child("FAILED", ["catalog/c.jpg", "catalog/d.jpg"])]
    manifest = {"DestinationBucket": BUCKET, "MapRunArn": MAP_RUN, "ResultFiles": {
        "FAILED": [{"Key": folder + "FAILED_0.json", "Size": 1}], "PENDING": [],
        "SUCCEEDED": [{"Key": folder + "SUCCEEDED_0.json", "Size": 1}]}}
    for name, content in (("manifest.json", manifest), ("SUCCEEDED_0.json", succeeded), ("FAILED_0.json", failed)):
        s3.put_object(Bucket=BUCKET, Key=folder + name, Body=json.dumps(content).encode())
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}another-run/manifest.json", Body=b"{}")

    out = tmp_path / "results.jsonl"
    assert cli.write_results(s3, f"s3://{BUCKET}/{prefix}", MAP_RUN, out) == 4
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[:2] == [{"input": "catalog/a.jpg", "scores": scores}, {
        "input": "catalog/b.txt", "error": {"type": "NotAnImage", "message": "not a picture", "status": 422}}]
    assert [line["input"] for line in lines[2:]] == ["catalog/c.jpg", "catalog/d.jpg"]
    assert all(line["error"]["type"] == "BatchFailed" and "Lambda.ServiceException" in line["error"]["message"]
               and "internal detail" not in line["error"]["message"] for line in lines[2:])


def test_a_run_without_a_manifest_says_so_in_one_line(endpoint, tmp_path):
    with pytest.raises(Refusal, match="no manifest.json"):
        cli.write_results(aws_client("s3", endpoint), f"s3://{BUCKET}/nothing/", MAP_RUN, tmp_path / "r.jsonl")


def test_waiting_shows_the_map_runs_items_done_and_failed(monkeypatch):
    """DescribeMapRun's item counts, which moto's Step Functions does not fill, through botocore's Stubber."""
    client = boto3.client("stepfunctions", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    execution = "arn:aws:states:us-east-1:123456789012:execution:clothing-catalog:run"
    counts = {"pending": 0, "running": 0, "succeeded": 0, "failed": 0, "timedOut": 0, "aborted": 0, "total": 100,
              "resultsWritten": 0}
    started = {"executionArn": execution, "stateMachineArn": "arn:aws:states:us-east-1:123456789012:"
               "stateMachine:clothing-catalog", "status": "RUNNING", "startDate": "2026-12-03T10:00:00Z"}
    map_run = {"mapRunArn": MAP_RUN, "executionArn": execution, "status": "RUNNING",
               "startDate": "2026-12-03T10:00:00Z", "maxConcurrency": 8, "toleratedFailurePercentage": 5,
               "toleratedFailureCount": 0}
    progress = io.StringIO()
    monkeypatch.setattr(sys, "stderr", progress)
    with Stubber(client) as stub:
        stub.add_response("describe_execution", started)
        stub.add_response("list_map_runs", {"mapRuns": [{"executionArn": execution, "mapRunArn": MAP_RUN,
                                                         "stateMachineArn": started["stateMachineArn"],
                                                         "startDate": "2026-12-03T10:00:00Z"}]})
        stub.add_response("describe_map_run", {**map_run, "itemCounts": {**counts, "running": 40, "succeeded": 58,
                                                                          "failed": 2}, "executionCounts": counts})
        stub.add_response("describe_execution", {**started, "status": "SUCCEEDED"})
        stub.add_response("describe_map_run", {**map_run, "status": "SUCCEEDED", "executionCounts": counts,
                                               "itemCounts": {**counts, "succeeded": 97, "failed": 3}})
        status, found = cli.follow(client, execution, poll_seconds=0)
    assert (status, found) == ("SUCCEEDED", MAP_RUN)
    shown = progress.getvalue()
    assert "60/100" in shown and "failed=2" in shown and "100/100" in shown and "failed=3" in shown


@pytest.mark.process
def test_classify_bucket_without_credentials_or_a_stack_says_so_in_one_line(tmp_path):
    bare = {"AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    result = subprocess.run([sys.executable, "-m", "deploy.classify_bucket"], cwd=ROOT, capture_output=True,
                            text=True, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **bare}, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "credentials" in result.stderr
    assert "Traceback" not in result.stderr
