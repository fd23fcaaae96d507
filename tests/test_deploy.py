"""The deployment, checked offline: the template passes the SAM transform that CloudFormation runs, lints,
its API event reaches the handler, and the bill adds up."""

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.decode import decode
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

import lambda_function
from clothing.settings import ENVIRONMENT_VARIABLES
from deploy.cost import azure_bill, google_bill, monthly_bill, platform_bills
from tests.conftest import LABELS, ROOT

TEMPLATE = ROOT / "template.yaml"
SAM = [sys.executable, "-m", "samcli"]
SAM_ENV = {**os.environ, "SAM_CLI_TELEMETRY": "0"}


@pytest.fixture(scope="module")
def template() -> dict:
    parsed, errors = decode(str(TEMPLATE))
    assert not errors
    return parsed


def test_cfn_lint_with_the_serverless_rules_is_clean():
    cfn_lint = str(Path(sys.executable).parent / "cfn-lint")
    result = subprocess.run([cfn_lint, "--append-rules", "cfn_lint_serverless.rules", "--",
                             str(TEMPLATE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_passes():
    result = subprocess.run([*SAM, "validate", "--lint", "--template", str(TEMPLATE)], env=SAM_ENV,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


class NoManagedPolicies:
    """The transform looks up managed policy names only for policies the template does not use."""

    def load(self) -> dict:
        return {}


def deployed_resources(parameters: dict[str, str]) -> dict:
    """The resources CloudFormation would create: the real SAM transform, then the template's conditions."""
    sam_template = yaml_parse(TEMPLATE.read_text())
    function = sam_template["Resources"]["ClassifierFunction"]["Properties"]
    function["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/clothing-classifier:1"  # as sam deploy does
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    resolved = transform(sam_template, parameters, NoManagedPolicies())
    values = {name: parameters.get(name, spec.get("Default")) for name, spec in resolved["Parameters"].items()}
    conditions: dict[str, bool] = {}

    def evaluate(node):
        if isinstance(node, dict) and len(node) == 1:
            (key, value), = node.items()
            if key == "Ref" and value in values:
                return values[value]
            if key == "Condition":
                return condition(value)
            if key == "Fn::Equals":
                return evaluate(value[0]) == evaluate(value[1])
            if key == "Fn::Not":
                return not evaluate(value[0])
            if key == "Fn::If":
                return evaluate(value[1] if condition(value[0]) else value[2])
        if isinstance(node, dict):
            return {k: evaluate(v) for k, v in node.items()}
        if isinstance(node, list):
            return [evaluate(v) for v in node]
        return node

    def condition(name: str) -> bool:
        if name not in conditions:
            conditions[name] = bool(evaluate(resolved["Conditions"][name]))
        return conditions[name]

    return {name: evaluate(resource) for name, resource in resolved["Resources"].items()
            if "Condition" not in resource or condition(resource["Condition"])}


def references(node) -> set[str]:
    """Every resource or parameter name a Ref, GetAtt or Sub in ``node`` points to."""
    if isinstance(node, list):
        return set().union(*map(references, node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = set().union(*map(references, node.values())) if node else set()
    if isinstance(node.get("Ref"), str):
        found.add(node["Ref"])
    if "Fn::GetAtt" in node:
        target = node["Fn::GetAtt"]
        found.add(target[0] if isinstance(target, list) else target.split(".")[0])
    if "Fn::Sub" in node:
        text, local = (node["Fn::Sub"], {}) if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"]
        found |= {name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text)} - set(local)
    return found


def allowed_parameter_values(template: dict) -> list[dict[str, str]]:
    """Every combination of the values of the parameters that list their allowed values."""
    choices = {name: spec["AllowedValues"] for name, spec in template["Parameters"].items() if "AllowedValues" in spec}
    return [dict(zip(choices, combination, strict=True)) for combination in itertools.product(*choices.values())]


def test_every_allowed_parameter_value_passes_the_sam_transform_with_every_reference_resolved(template):
    combinations = allowed_parameter_values(template)
    assert {c["RequireApiKey"] for c in combinations} == {"true", "false"}
    assert {c["InterpreterThreads"] for c in combinations} >= {"auto", "1", "2"}
    for parameters in combinations:
        resources = deployed_resources(parameters)
        known = set(resources) | set(template["Parameters"]) | {
            "AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::StackName", "AWS::URLSuffix", "AWS::NoValue"}
        dangling = {name: sorted(references(resource) - known) for name, resource in resources.items()}
        assert not any(dangling.values()), (parameters, dangling)


def methods_by_verb(resources: dict) -> dict[str, dict]:
    return {r["Properties"]["HttpMethod"]: r["Properties"] for r in resources.values()
            if r["Type"] == "AWS::ApiGateway::Method"}


def test_without_an_api_key_both_methods_are_open_and_no_key_or_plan_exists():
    resources = deployed_resources({"RequireApiKey": "false"})
    methods = methods_by_verb(resources)
    assert sorted(methods) == ["GET", "POST"]
    assert methods["POST"]["ApiKeyRequired"] is False and methods["GET"]["ApiKeyRequired"] is False
    kinds = {r["Type"] for r in resources.values()}
    assert not kinds & {"AWS::ApiGateway::ApiKey", "AWS::ApiGateway::UsagePlan", "AWS::ApiGateway::UsagePlanKey"}


def test_the_functions_concurrency_is_capped_by_default_and_left_uncapped_with_zero():
    def reserved(parameters):
        return deployed_resources(parameters)["ClassifierFunction"]["Properties"]["ReservedConcurrentExecutions"]

    assert int(reserved({})) == 10
    assert int(reserved({"MaxConcurrency": "3"})) == 3
    assert reserved({"MaxConcurrency": "0"}) == {"Ref": "AWS::NoValue"}  # CloudFormation leaves the property out


def test_with_an_api_key_predict_needs_it_the_page_does_not_and_a_usage_plan_caps_it():
    resources = deployed_resources({"RequireApiKey": "true"})
    methods = methods_by_verb(resources)
    assert methods["POST"]["ApiKeyRequired"] is True
    assert methods["GET"]["ApiKeyRequired"] is False  # the page asks the person for the key
    by_type = {r["Type"]: r["Properties"] for r in resources.values()}
    plan = by_type["AWS::ApiGateway::UsagePlan"]
    assert plan["Throttle"] and plan["Quota"]
    assert by_type["AWS::ApiGateway::UsagePlanKey"]["KeyId"] == {"Ref": "ApiKey"}
    assert "AWS::ApiGateway::ApiKey" in by_type


@pytest.mark.parametrize("require_api_key", ["true", "false"])
def test_every_method_may_invoke_the_function_and_is_in_the_deployment(template, require_api_key):
    resources = deployed_resources({"RequireApiKey": require_api_key})
    source_arns = [r["Properties"]["SourceArn"]["Fn::Sub"] for r in resources.values()
                   if r["Type"] == "AWS::Lambda::Permission"]
    [deployment] = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Deployment"]
    methods = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::ApiGateway::Method"}
    for name, method in methods.items():
        parent = method["ResourceId"]
        path = "/" if "Fn::GetAtt" in parent else "/" + resources[parent["Ref"]]["Properties"]["PathPart"]
        assert any(arn.endswith(f"/*/{method['HttpMethod']}{path}") for arn in source_arns), (name, source_arns)
        assert name in deployment["DependsOn"]


def test_changing_require_api_key_redeploys_the_stage():
    deployments = [{name for name, r in deployed_resources({"RequireApiKey": value}).items()
                    if r["Type"] == "AWS::ApiGateway::Deployment"} for value in ("true", "false")]
    assert len(deployments[0]) == len(deployments[1]) == 1 and deployments[0] != deployments[1]


def test_the_templates_api_event_gets_a_200_from_the_handler(template, image_server):
    resources = template["Resources"]
    method = resources["PredictMethod"]["Properties"]["HttpMethod"]
    path = "/" + resources["PredictResource"]["Properties"]["PathPart"]
    stage = resources["ApiStage"]["Properties"]["StageName"]
    body = json.dumps({"url": f"{image_server}/images/pants-1.jpg"})
    generated = subprocess.run(
        [*SAM, "local", "generate-event", "apigateway", "aws-proxy", "--method", method,
         "--path", path.strip("/"), "--resource", path, "--stage", stage, "--body", body],
        env=SAM_ENV, capture_output=True, text=True, check=True, timeout=120,
    )
    event = json.loads(generated.stdout)
    assert (event["httpMethod"], event["path"]) == ("POST", "/predict")
    response = lambda_function.lambda_handler(event, None)
    assert response["statusCode"] == 200
    assert list(json.loads(response["body"])) == list(LABELS)


def test_the_template_sets_only_variables_the_function_reads(template):
    variables = template["Resources"]["ClassifierFunction"]["Properties"]["Environment"]["Variables"]
    assert set(variables) <= set(ENVIRONMENT_VARIABLES)


def test_the_function_is_built_from_our_dockerfile(template):
    function = template["Resources"]["ClassifierFunction"]
    assert function["Properties"]["PackageType"] == "Image"
    assert (ROOT / function["Metadata"]["DockerContext"] / function["Metadata"]["Dockerfile"]).is_file()


def test_the_courses_example_bill_worked_by_hand():
    # 1,000,000 x 2 s x 1 GB = 2,000,000 GB-s; 400,000 free; 1,600,000 x $0.0000166667 = $26.67.
    bill = monthly_bill(1024, 2000, 1_000_000)
    assert bill.compute == pytest.approx(26.66672)
    assert bill.requests == 0.0  # the first million requests are free
    assert bill.api == pytest.approx(3.50)
    # Without the free tier: $33.33 compute and $0.20 for the requests.
    bare = monthly_bill(1024, 2000, 1_000_000, api="none", free_tier=False)
    assert (bare.compute, bare.requests, bare.api) == (pytest.approx(33.3334), pytest.approx(0.20), 0.0)


def test_billed_duration_rounds_up_to_the_millisecond_and_arm_is_cheaper():
    assert monthly_bill(2048, 30.2, 10_000_000, free_tier=False).compute == pytest.approx(
        10_000_000 * 0.031 * 2 * 0.0000166667)
    arm = monthly_bill(2048, 31, 5_000_000, "arm64", free_tier=False)
    assert arm.compute == pytest.approx(5_000_000 * 0.031 * 2 * 0.0000133334)
    assert arm.total < monthly_bill(2048, 31, 5_000_000, free_tier=False).total


def test_google_bills_cpu_and_memory_by_the_100_ms_step_after_its_free_tier():
    # 10 M requests of 25 ms are billed as 100 ms each: 1 M vCPU-seconds and 1 M GiB-seconds.
    bill = google_bill(25, 10_000_000)
    assert bill.compute == pytest.approx((1_000_000 - 180_000) * 0.000024 + (1_000_000 - 360_000) * 0.0000025)
    assert bill.requests == pytest.approx(8 * 0.40) and bill.api == 0.0
    assert google_bill(101, 1000, free_tier=False).compute == pytest.approx(1000 * 0.2 * (0.000024 + 0.0000025))


def test_azure_flex_bills_at_least_a_second_an_execution_after_its_free_grant():
    bill = azure_bill(25, 1_000_000)  # 1 M executions, each billed 1 s at 2 GB
    assert bill.compute == pytest.approx((2_000_000 - 100_000) * 0.000026)
    assert bill.requests == pytest.approx(0.75 * 0.40)
    assert azure_bill(1500.2, 1000, free_tier=False).compute == pytest.approx(1000 * 1.501 * 2 * 0.000026)


def test_the_platform_comparison_bills_each_platform_by_its_own_rules():
    bills = platform_bills(2000, 1_000_000, free_tier=False)
    assert [bill.total for bill in bills.values()] == [
        pytest.approx(monthly_bill(1769, 2000, 1_000_000, free_tier=False).total),
        pytest.approx(google_bill(2000, 1_000_000, free_tier=False).total),
        pytest.approx(azure_bill(2000, 1_000_000, free_tier=False).total)]
    assert len({round(bill.total, 6) for bill in bills.values()}) == 3


def preflight(tmp_path, docker_exit: int | None, credentials: bool, *arguments: str) -> subprocess.CompletedProcess:
    """``python -m deploy.preflight`` with a stand-in ``docker`` (or none) and (or without) credentials."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if docker_exit is not None:
        (bin_dir / "docker").write_text(f"#!/bin/sh\nexit {docker_exit}\n")
        (bin_dir / "docker").chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true"}
    if credentials:
        env |= {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example",
                "AWS_DEFAULT_REGION": "eu-west-1"}
    return subprocess.run([sys.executable, "-m", "deploy.preflight", *arguments], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_deploy_says_in_one_line_each_that_docker_and_credentials_are_missing(tmp_path):
    result = preflight(tmp_path, docker_exit=None, credentials=False)
    lines = result.stderr.splitlines()
    assert result.returncode == 1 and len(lines) == 2, result.stderr
    assert "no container engine" in lines[0] and "no AWS credentials" in lines[1]


def test_deploy_says_when_docker_is_installed_but_not_running(tmp_path):
    result = preflight(tmp_path, docker_exit=1, credentials=True)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "make deploy: docker installed but not running: start it, then run make deploy again"]


def test_deploy_goes_ahead_when_docker_answers_and_credentials_exist(tmp_path):
    result = preflight(tmp_path, docker_exit=0, credentials=True)
    assert (result.returncode, result.stderr) == (0, "")


def test_destroy_needs_only_credentials_and_says_so_before_sam_asks_anything(tmp_path):
    result = preflight(tmp_path, None, False, "destroy")
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["make destroy: no AWS credentials: run 'aws configure' (or set AWS_PROFILE, "
                                          "or AWS_ACCESS_KEY_ID and its secret)"]
    assert preflight(tmp_path, None, True, "destroy").returncode == 0  # no container engine needed


def test_the_cost_commands_platform_table_prices_the_api_asked_for_at_the_first_tables_size():
    result = subprocess.run([sys.executable, "-m", "deploy.cost", "--api", "http"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=True)
    lambda_rows = [line for line in result.stdout.splitlines() if "x86_64" in line or "AWS Lambda" in line]
    assert "AWS Lambda 1769 MB + API Gateway (HTTP)" in lambda_rows[1]
    totals = [line.split(" | ")[-2] for line in lambda_rows]
    assert totals[0] == totals[1]  # one AWS total on the screen, not two


def test_the_cost_command_refuses_what_lambda_does_not_allow():
    for arguments, allowed in ((["--requests", "0"], "at least 1"), (["--duration-ms", "-5"], "900,000 ms"),
                               (["--memory", "64"], "128 to 10,240"), (["--memory", "1.5"], "128 to 10,240")):
        result = subprocess.run([sys.executable, "-m", "deploy.cost", *arguments], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and allowed in result.stderr.splitlines()[-1], (arguments, result.stderr)
        assert "Traceback" not in result.stderr


def test_make_serve_gives_the_function_the_templates_default_memory_size(template):
    from scripts.serve import DEFAULT_MEMORY_MB

    assert template["Parameters"]["MemorySize"]["Default"] == DEFAULT_MEMORY_MB
