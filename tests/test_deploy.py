"""The deployment, checked offline: the template passes the SAM transform that CloudFormation runs, lints,
its API event reaches the handler, and the bill adds up."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.decode import decode
from samtranslator.yaml_helper import yaml_parse

import lambda_function
from clothing.settings import ENVIRONMENT_VARIABLES
from tests.conftest import LABELS, ROOT
from tests.sam_template import (
    CATALOG_BUCKET,
    TEMPLATE,
    allowed_parameter_values,
    catalog_definition,
    deployed_resources,
    references,
    statements,
)

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


def test_every_allowed_parameter_value_passes_the_sam_transform_with_every_reference_resolved(template):
    combinations = allowed_parameter_values(template)
    assert {c["RequireApiKey"] for c in combinations} == {"true", "false"}
    assert {c["InterpreterThreads"] for c in combinations} >= {"auto", "1", "2"}
    assert {(c["Architecture"], c["SnapStart"]) for c in combinations} == {
        ("x86_64", "off"), ("x86_64", "on"), ("arm64", "off"), ("arm64", "on")}
    for parameters in combinations + [{**c, "CatalogBucket": CATALOG_BUCKET} for c in combinations]:
        resources = deployed_resources(parameters)
        known = set(resources) | set(template["Parameters"]) | {
            "AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::StackName", "AWS::URLSuffix", "AWS::NoValue"}
        dangling = {name: sorted(references(resource) - known) for name, resource in resources.items()}
        assert not any(dangling.values()), (parameters, dangling)


ASL_VALIDATOR = ROOT / "node_modules" / ".bin" / "asl-validator"


@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
@pytest.mark.parametrize("snapstart", ["off", "on"])
def test_architecture_and_snapstart_with_the_api_and_the_catalog_on_the_published_alias(architecture, snapstart):
    resources = deployed_resources({"Architecture": architecture, "SnapStart": snapstart,
                                    "CatalogBucket": CATALOG_BUCKET})
    function = resources["ClassifierFunction"]["Properties"]
    assert function["Architectures"] == [architecture]
    assert function["SnapStart"] == ({"ApplyOn": "PublishedVersions"} if snapstart == "on" else {"Ref": "AWS::NoValue"})
    alias = next(name for name, r in resources.items() if r["Type"] == "AWS::Lambda::Alias")
    assert resources[alias]["Properties"]["Name"] == "live"
    for method in methods_by_verb(resources).values():
        assert f"functions/${{{alias}}}/invocations" in method["Integration"]["Uri"]["Fn::Sub"]
    permissions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
    assert permissions and all(p["FunctionName"] == {"Ref": alias} for p in permissions)
    assert f'"FunctionName": "${{{alias}}}"' in \
        resources["CatalogStateMachine"]["Properties"]["DefinitionString"]["Fn::Sub"]
    invoke = [s for s in statements(resources["CatalogRole"]) if s["Action"] == "lambda:InvokeFunction"]
    assert invoke == [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": {"Ref": alias}}]


def test_the_catalog_exists_only_when_a_bucket_is_given():
    without, with_bucket = deployed_resources({}), deployed_resources({"CatalogBucket": CATALOG_BUCKET})
    assert {"CatalogStateMachine", "CatalogRole"} <= set(with_bucket)
    assert not {"CatalogStateMachine", "CatalogRole"} & set(without)
    assert without["ClassifierFunctionRole"]["Properties"]["Policies"] == [{"Ref": "AWS::NoValue"}]


@pytest.mark.parametrize("parameters", [
    {}, {"CatalogBatchSize": "1", "CatalogConcurrency": "1", "CatalogToleratedFailurePercentage": "0"},
    {"CatalogBatchSize": "100", "CatalogConcurrency": "10000", "CatalogToleratedFailurePercentage": "100",
     "CatalogInputPrefix": "photos/2026/", "CatalogResultsPrefix": "labels/"}])
def test_the_catalog_definition_is_valid_amazon_states_language(tmp_path, template, parameters):
    definition = catalog_definition({"CatalogBucket": CATALOG_BUCKET, **parameters}, template)
    catalog = definition["States"]["ClassifyCatalog"]
    assert catalog["ItemBatcher"]["MaxItemsPerBatch"] == int(parameters.get("CatalogBatchSize", 20))
    assert catalog["ItemReader"]["Parameters"] == {"Bucket": CATALOG_BUCKET,
                                                   "Prefix": parameters.get("CatalogInputPrefix", "catalog/")}
    path = tmp_path / "catalog.asl.json"
    path.write_text(json.dumps(definition))
    result = subprocess.run([str(ASL_VALIDATOR), "--json-path", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_asl_validator_refuses_a_definition_with_a_quoted_number(tmp_path, template):
    """What DefinitionSubstitutions would have made of the numbers: the validator must tell."""
    definition = catalog_definition({"CatalogBucket": CATALOG_BUCKET}, template)
    definition["States"]["ClassifyCatalog"]["MaxConcurrency"] = "10"
    path = tmp_path / "catalog.asl.json"
    path.write_text(json.dumps(definition))
    result = subprocess.run([str(ASL_VALIDATOR), "--json-path", str(path)], capture_output=True, text=True)
    assert result.returncode != 0 and "MaxConcurrency" in result.stdout + result.stderr


def test_the_catalogs_largest_batch_is_what_the_function_takes():
    from clothing.catalog import MAX_ITEMS

    assert yaml_parse(TEMPLATE.read_text())["Parameters"]["CatalogBatchSize"]["MaxValue"] == MAX_ITEMS


def test_the_function_reads_only_the_input_prefix_and_the_workflow_writes_only_the_results_prefix():
    resources = deployed_resources({"CatalogBucket": CATALOG_BUCKET})
    function_role, catalog_role = resources["ClassifierFunctionRole"], resources["CatalogRole"]
    function_s3 = [s for s in statements(function_role) if str(s["Action"]).startswith("s3:")]
    assert function_s3 == [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::${CatalogBucket}/${CatalogInputPrefix}*"}}, {
        "Effect": "Allow", "Action": "s3:ListBucket",
        "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${CatalogBucket}"},
        "Condition": {"StringLike": {"s3:prefix": {"Fn::Sub": "${CatalogInputPrefix}*"}}}}]
    by_resource = {json.dumps(s["Resource"]): s for s in statements(catalog_role)}
    listing = by_resource[json.dumps({"Fn::Sub": "arn:${AWS::Partition}:s3:::${CatalogBucket}"})]
    assert listing["Action"] == "s3:ListBucket"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": {"Fn::Sub": "${CatalogInputPrefix}*"}}}
    results = "arn:${AWS::Partition}:s3:::${CatalogBucket}/${CatalogResultsPrefix}*"
    writing = by_resource[json.dumps({"Fn::Sub": results})]
    assert "s3:PutObject" in writing["Action"]
    s3_actions = [a for s in statements(catalog_role) for a in ([s["Action"]] if isinstance(s["Action"], str)
                                                                 else s["Action"]) if a.startswith("s3:")]
    assert not any("*" in action for action in s3_actions)
    everything = [s for s in statements(catalog_role) if s["Resource"] == "*"]
    assert all(a.startswith("xray:") for s in everything for a in s["Action"])


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


def test_make_serve_gives_the_function_the_templates_default_memory_size(template):
    from scripts.serve import DEFAULT_MEMORY_MB

    assert template["Parameters"]["MemorySize"]["Default"] == DEFAULT_MEMORY_MB
