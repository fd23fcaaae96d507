"""The catalog batch, as Step Functions' Distributed Map sends it, through ``lambda_handler`` against a real
S3 API on 127.0.0.1: moto's server in a process of its own, spoken to by boto3 over HTTP. The function runs
in a fresh process with only the variables Lambda would give it.
"""

import base64
import json
import subprocess
import sys

import pytest

from scripts.serve import free_port
from tests.conftest import AWS_CREDENTIALS, IMAGES, LABELS, ROOT, aws_client, image_files

BUCKET = "shop-catalog"
PREFIX = "catalog/"
LIMIT = 10 * 1024 * 1024  # the function's default MAX_IMAGE_BYTES

# Each event from stdin through the handler, in one process, as one warm instance would serve them.
HANDLE = """
import json, sys
import lambda_function
print("ANSWER", json.dumps({"boto3_at_cold_start": "boto3" in sys.modules}))
for line in sys.stdin:
    print("ANSWER", json.dumps(lambda_function.lambda_handler(json.loads(line), None)), flush=True)
"""


@pytest.fixture(scope="module")
def s3_endpoint(moto_endpoint):
    s3 = aws_client("s3", moto_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    for picture in image_files():
        s3.put_object(Bucket=BUCKET, Key=PREFIX + picture.name, Body=picture.read_bytes())
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "notes.txt", Body=b"not a picture at all")
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "huge.jpg", Body=b"\xff\xd8" + b"\0" * LIMIT)
    s3.put_object(Bucket=BUCKET, Key="private/pants-1.jpg", Body=(IMAGES / "pants-1.jpg").read_bytes())
    s3.create_bucket(Bucket="other-bucket")
    s3.put_object(Bucket="other-bucket", Key=PREFIX + "pants-1.jpg", Body=b"not this one")
    return moto_endpoint


def handle(events: list[dict], endpoint: str, **variables: str) -> tuple[bool, list[dict]]:
    """Whether boto3 was loaded at cold start, and each event's answer, from a fresh process."""
    env = {"PATH": "/usr/bin:/bin", **AWS_CREDENTIALS, "AWS_ENDPOINT_URL_S3": endpoint, **variables}
    result = subprocess.run([sys.executable, "-c", HANDLE], cwd=ROOT, env=env, capture_output=True, text=True,
                            input="".join(json.dumps(event) + "\n" for event in events), timeout=300)
    assert result.returncode == 0, result.stderr
    first, *answers = (json.loads(line.removeprefix("ANSWER ")) for line in result.stdout.splitlines()
                       if line.startswith("ANSWER "))  # the function's own log lines are JSON too
    return first["boto3_at_cold_start"], answers


def batch(*keys) -> dict:
    """What the Distributed Map's ItemSelector and ItemBatcher hand the function."""
    return {"Items": [{"Key": key} for key in keys]}


def test_a_batch_gets_one_result_per_key_in_order_with_the_apis_scores_and_errors(s3_endpoint):
    pictures = [PREFIX + path.name for path in image_files()]
    keys = [*pictures, PREFIX + "missing.jpg", PREFIX + "notes.txt", PREFIX + "huge.jpg", "private/pants-1.jpg"]
    direct = [{"image": base64.b64encode(path.read_bytes()).decode()} for path in image_files()]
    boto3_at_start, (answer, *direct_answers) = handle([batch(*keys), *direct], s3_endpoint,
                                                       CATALOG_BUCKET=BUCKET)

    assert not boto3_at_start
    results = answer["results"]
    assert [result["input"] for result in results] == keys
    assert [result["scores"] for result in results[:len(pictures)]] == direct_answers  # the API's, exactly
    assert all(list(scores) == list(LABELS) for scores in direct_answers)
    errors = {result["input"]: result["error"] for result in results[len(pictures):]}
    assert {key: (error["type"], error["status"]) for key, error in errors.items()} == {
        PREFIX + "missing.jpg": ("NotFound", 404), PREFIX + "notes.txt": ("NotAnImage", 422),
        PREFIX + "huge.jpg": ("ImageTooLarge", 413), "private/pants-1.jpg": ("UrlRefused", 403)}
    assert "catalog/" in errors["private/pants-1.jpg"]["message"]
    assert all("specified key" not in error["message"] for error in errors.values())  # not S3's own words


def test_the_bucket_comes_from_the_functions_environment_never_from_the_event(s3_endpoint):
    event = {**batch(PREFIX + "pants-1.jpg"), "Bucket": "other-bucket", "BatchInput": {"Bucket": "other-bucket"}}
    _, (answer,) = handle([event], s3_endpoint, CATALOG_BUCKET=BUCKET)
    assert max(answer["results"][0]["scores"], key=answer["results"][0]["scores"].get) == "pants"


def test_the_input_prefix_is_the_functions_setting(s3_endpoint):
    _, (answer,) = handle([batch("private/pants-1.jpg", PREFIX + "pants-1.jpg")], s3_endpoint,
                          CATALOG_BUCKET=BUCKET, CATALOG_INPUT_PREFIX="private/")
    first, second = answer["results"]
    assert "scores" in first and second["error"]["type"] == "UrlRefused"


@pytest.mark.parametrize(("event", "words"), [
    ({"Items": "catalog/a.jpg"}, "list"),
    (batch(*[PREFIX + "pants-1.jpg"] * 101), "at most 100"),
])
def test_a_malformed_batch_is_refused_as_a_whole_with_a_clear_error(s3_endpoint, event, words):
    _, (answer,) = handle([event], s3_endpoint, CATALOG_BUCKET=BUCKET)
    assert answer["error"]["type"] == "BadRequest" and words in answer["error"]["message"]


def test_items_that_are_not_keys_get_an_error_each_and_the_rest_are_classified(s3_endpoint):
    _, (answer,) = handle([{"Items": ["catalog/pants-1.jpg", {"Key": 7}, {}, {"Key": PREFIX + "pants-1.jpg"}]}],
                          s3_endpoint, CATALOG_BUCKET=BUCKET)
    *bad, good = answer["results"]
    assert [result["error"]["type"] for result in bad] == ["BadRequest"] * 3
    assert "scores" in good


def test_without_a_catalog_bucket_a_batch_is_refused_and_the_function_keeps_serving(s3_endpoint):
    direct = {"image": base64.b64encode((IMAGES / "pants-1.jpg").read_bytes()).decode()}
    _, (refused, served) = handle([batch(PREFIX + "pants-1.jpg"), direct], s3_endpoint)
    assert refused["error"]["type"] == "BadRequest" and "CatalogBucket" in refused["error"]["message"]
    assert list(served) == list(LABELS)


def test_a_catalog_bucket_that_cannot_be_reached_is_an_upstream_error_per_key():
    _, (answer,) = handle([batch(PREFIX + "pants-1.jpg")], f"http://127.0.0.1:{free_port()}",
                          CATALOG_BUCKET=BUCKET, CONNECT_TIMEOUT="1")
    assert answer["results"][0]["error"]["type"] == "UpstreamError"


STACK_TEMPLATE = {  # only what make classify-bucket reads of the real stack: its outputs
    "Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
    "Outputs": {"CatalogStateMachine": {"Value": "{arn}"}, "CatalogResults": {"Value": "s3://shop-catalog/results/"}},
}


def classify_bucket(endpoint: str, *arguments: str, **variables: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", **AWS_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, **variables}
    return subprocess.run([sys.executable, "-m", "deploy.classify_bucket", *arguments], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_classify_bucket_starts_the_stacks_workflow_and_says_where_the_results_go(s3_endpoint):
    client = {service: aws_client(service, s3_endpoint) for service in ("stepfunctions", "cloudformation")}
    arn = client["stepfunctions"].create_state_machine(
        name="clothing-catalog", roleArn="arn:aws:iam::123456789012:role/catalog",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}))["stateMachineArn"]
    client["cloudformation"].create_stack(
        StackName="clothing", TemplateBody=json.dumps(STACK_TEMPLATE).replace("{arn}", arn))
    client["cloudformation"].create_stack(
        StackName="no-catalog", TemplateBody=json.dumps({"Resources": STACK_TEMPLATE["Resources"]}))

    result = classify_bucket(s3_endpoint, "--stack", "clothing")
    assert result.returncode == 0, result.stderr
    started, results = result.stdout.splitlines()
    executions = client["stepfunctions"].list_executions(stateMachineArn=arn)["executions"]
    assert started == f"started {executions[0]['executionArn']}" and len(executions) == 1
    assert results.startswith("results: s3://shop-catalog/results/<map run id>/")

    waited = classify_bucket(s3_endpoint, "--stack", "clothing", "--wait")
    assert waited.returncode == 1 and waited.stdout.splitlines()[-1] == "ended: FAILED"

    refused = classify_bucket(s3_endpoint, "--stack", "no-catalog")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "CatalogBucket" in refused.stderr
    missing = classify_bucket(s3_endpoint, "--stack", "never-deployed")
    assert missing.returncode == 2 and "no stack 'never-deployed'" in missing.stderr


def test_classify_bucket_without_credentials_or_a_stack_says_so_in_one_line(tmp_path):
    bare = {"AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    result = subprocess.run([sys.executable, "-m", "deploy.classify_bucket"], cwd=ROOT, capture_output=True,
                            text=True, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **bare}, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "credentials" in result.stderr
    assert "Traceback" not in result.stderr
