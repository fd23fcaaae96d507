"""make prune deletes the versions no alias points to, against moto's Lambda and CloudFormation on 127.0.0.1.

Why it matters: with SnapStart every published version keeps a snapshot, billed until Lambda deletes it after
14 days without an invocation (https://docs.aws.amazon.com/lambda/latest/dg/snapstart-security.html).
"""

import json
import subprocess
import sys
import uuid

import pytest

from tests.conftest import AWS_CREDENTIALS, ROOT, aws_client

ROLE_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


@pytest.fixture
def function(moto_endpoint):
    """A function with versions 1 to 5: live on 4, shifting 10% to 5 as a canary would; 1 to 3 unaliased."""
    name = f"clothing-{uuid.uuid4().hex[:8]}"
    role = aws_client("iam", moto_endpoint).create_role(
        RoleName=name, AssumeRolePolicyDocument=json.dumps(ROLE_POLICY))["Role"]["Arn"]
    client = aws_client("lambda", moto_endpoint)
    client.create_function(FunctionName=name, Role=role, PackageType="Image",
                           Code={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/clothing:1"})
    for memory in (1769, 2048, 3008, 1024, 1536):
        client.update_function_configuration(FunctionName=name, MemorySize=memory)
        client.publish_version(FunctionName=name)
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="4",
                        RoutingConfig={"AdditionalVersionWeights": {"5": 0.1}})
    return name


def prune(endpoint: str, *arguments: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", **AWS_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}
    return subprocess.run([sys.executable, "-m", "deploy.prune", *arguments], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def versions(endpoint: str, function: str) -> list[str]:
    return [v["Version"] for v in aws_client("lambda", endpoint).list_versions_by_function(
        FunctionName=function)["Versions"]]


def test_a_dry_run_names_what_it_would_delete_and_deletes_nothing(moto_endpoint, function):
    result = prune(moto_endpoint, "--function", function, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"would delete {function}:1", f"would delete {function}:2"]
    assert versions(moto_endpoint, function) == ["$LATEST", "1", "2", "3", "4", "5"]


def test_prune_keeps_the_aliased_versions_and_the_newest_other_one(moto_endpoint, function):
    result = prune(moto_endpoint, "--function", function)
    assert result.returncode == 0, result.stderr
    assert versions(moto_endpoint, function) == ["$LATEST", "3", "4", "5"]
    again = prune(moto_endpoint, "--function", function, "--keep", "0")
    assert again.stdout.splitlines() == [f"deleted {function}:3"]
    assert versions(moto_endpoint, function) == ["$LATEST", "4", "5"]


def test_prune_finds_the_function_from_the_stacks_outputs(moto_endpoint, function):
    template = {"Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
                "Outputs": {"FunctionName": {"Value": function}}}
    stack = f"stack-{function}"
    aws_client("cloudformation", moto_endpoint).create_stack(StackName=stack, TemplateBody=json.dumps(template))
    result = prune(moto_endpoint, "--stack", stack, "--keep", "0")
    assert result.returncode == 0, result.stderr
    assert versions(moto_endpoint, function) == ["$LATEST", "4", "5"]


def test_a_stack_that_is_not_there_is_one_line_and_no_traceback(moto_endpoint):
    result = prune(moto_endpoint, "--stack", "never-deployed")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "no stack 'never-deployed'" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("how", ["--stack", "--function"])
def test_nothing_is_deleted_while_the_stack_is_being_deployed(monkeypatch, capsys, how):
    """During a gradual rollout's pre-traffic check the new version has no alias yet, and the stack is
    UPDATE_IN_PROGRESS until CodeDeploy ends (SAM's "Deploying serverless applications gradually"). moto's
    stacks are never in progress, so CloudFormation's and Lambda's answers come from botocore's Stubber, which
    checks them against the services' models; any other call, a deletion above all, fails the test."""
    import boto3
    from botocore.stub import Stubber

    from deploy import prune as prune_module

    for name, value in AWS_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    clients = {name: boto3.client(name) for name in ("cloudformation", "lambda")}
    stubbers = {name: Stubber(client) for name, client in clients.items()}
    stack = {"StackName": "clothing", "CreationTime": "2026-12-01T00:00:00Z", "StackStatus": "UPDATE_IN_PROGRESS",
             "Outputs": [{"OutputKey": "FunctionName", "OutputValue": "clothing-fn"}]}
    if how == "--function":
        stubbers["lambda"].add_response("get_function", {"Configuration": {"FunctionName": "clothing-fn"},
                                                         "Tags": {"aws:cloudformation:stack-name": "clothing"}})
    else:
        stubbers["cloudformation"].add_response("describe_stacks", {"Stacks": [stack]})
    stubbers["cloudformation"].add_response("describe_stacks", {"Stacks": [stack]})
    monkeypatch.setattr(boto3, "client", lambda name, **_: clients[name])
    for stubber in stubbers.values():
        stubber.activate()
    assert prune_module.main([how, "clothing" if how == "--stack" else "clothing-fn", "--keep", "0"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "is being deployed (UPDATE_IN_PROGRESS)" in error
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()
