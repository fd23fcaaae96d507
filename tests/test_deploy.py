"""The template, checked offline: it passes the SAM transform that CloudFormation runs and lints clean, its API
and function are wired to the published alias, and its API event reaches the handler. The catalog's part is in
tests/test_catalog_workflow.py, make deploy's checks in tests/test_preflight.py."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.decode import decode

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


@pytest.mark.process
def test_cfn_lint_with_the_serverless_rules_is_clean():
    cfn_lint = str(Path(sys.executable).parent / "cfn-lint")
    result = subprocess.run([cfn_lint, "--append-rules", "cfn_lint_serverless.rules", "--",
                             str(TEMPLATE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.process
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
    assert resources["CatalogStateMachine"]["Properties"]["DefinitionSubstitutions"]["Function"] == {"Ref": alias}
    assert catalog_definition({"CatalogBucket": CATALOG_BUCKET})["States"]["ClassifyCatalog"]["ItemProcessor"][
        "States"]["ClassifyBatch"]["Parameters"]["FunctionName"].endswith(":live")
    invoke = [s for s in statements(resources["CatalogRole"]) if s["Action"] == "lambda:InvokeFunction"]
    assert invoke == [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": {"Ref": alias}}]


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


# What the API's deployments snapshot, as the template last numbered them (template.yaml's KeyedDeployment<N>):
# CloudFormation makes a new deployment only for a new logical id, so a change to these must come with new names.
API_DEPLOYED = {3: "b2a30e35669c84c0"}


def test_a_change_to_the_api_comes_with_new_deployment_names(template):
    """Without new names an existing stack's stage keeps serving the old methods, with no error anywhere
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-apigateway-deployment.html)."""
    api = {name: resource for name, resource in template["Resources"].items()
           if resource["Type"] in ("AWS::ApiGateway::RestApi", "AWS::ApiGateway::Resource", "AWS::ApiGateway::Method")}
    fingerprint = hashlib.sha256(json.dumps(api, sort_keys=True).encode()).hexdigest()[:16]
    numbers = {int(name.removeprefix(prefix)) for name in template["Resources"]
               for prefix in ("KeyedDeployment", "OpenDeployment") if name.startswith(prefix)}
    assert len(numbers) == 1, f"KeyedDeployment and OpenDeployment must share one number, not {sorted(numbers)}"
    [number] = numbers
    assert API_DEPLOYED.get(number) == fingerprint, (
        f"the API's methods changed since KeyedDeployment{number}: rename KeyedDeployment{number} and "
        f"OpenDeployment{number} (and ApiStage's references) to {number + 1}, and set API_DEPLOYED = "
        f"{{{number + 1}: {fingerprint!r}}} in this file")


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


def test_make_serve_gives_the_function_the_templates_default_memory_size(template):
    from scripts.lambda_image import DEFAULT_MEMORY_MB

    assert template["Parameters"]["MemorySize"]["Default"] == DEFAULT_MEMORY_MB
