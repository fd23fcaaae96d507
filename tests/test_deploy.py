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
from deploy.cost import (
    azure_bill,
    catalog_bills,
    google_bill,
    monthly_bill,
    platform_bills,
    snapstart_break_even,
    start_bill,
)
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
        "Fn::Sub": "arn:${AWS::Partition}:s3:::${CatalogBucket}/${CatalogInputPrefix}*"}}]
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


def test_the_courses_example_bill_worked_by_hand():
    # 1,000,000 x 2 s x 1 GB = 2,000,000 GB-s; 400,000 free; 1,600,000 x $0.0000166667 = $26.67.
    bill = monthly_bill(1024, 2000, 1_000_000)
    assert bill.compute == pytest.approx(26.66672)
    assert bill.requests == 0.0  # the first million requests are free
    assert bill.api == pytest.approx(3.50)
    # Without the free tier: $33.33 compute and $0.20 for the requests.
    bare = monthly_bill(1024, 2000, 1_000_000, api="none", free_tier=False)
    assert (bare.compute, bare.requests, bare.api) == (pytest.approx(33.3334), pytest.approx(0.20), 0.0)


def test_a_catalogs_bill_on_both_paths_worked_by_hand():
    """A million pictures at 60 ms and 1,769 MB: 103,650 GB-seconds of Lambda either way."""
    api, batched = catalog_bills(1_000_000, 60, 1769, batch_size=20).values()
    gb_seconds = 1_000_000 * 0.060 * 1769 / 1024
    assert api.lambda_ == pytest.approx(gb_seconds * 0.0000166667 + 0.20)
    assert api.api == pytest.approx(3.50) and api.step_functions == api.s3 == 0
    batches = 50_000  # of 20, each 1.2 s
    assert batched.lambda_ == pytest.approx(gb_seconds * 0.0000166667 + batches / 1e6 * 0.20)
    transitions, express = (batches + 4) * 0.000025, batches / 1e6 * 1.00 + batches * 1.2 * (64 / 1024) * 0.00001667
    assert batched.step_functions == pytest.approx(transitions + express)
    assert batched.s3 == pytest.approx(1_000_000 / 1000 * 0.0004 + 1 * 0.005 + 3 / 1000 * 0.005)
    assert batched.api == 0 and batched.total < api.total


def test_the_catalog_pages_price_table_is_what_make_cost_prints():
    page = (ROOT / "docs" / "catalog.md").read_text()
    printed = subprocess.run([sys.executable, "-m", "deploy.cost", "--catalog", "1000000", "--duration-ms", "13"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert printed.strip() in page


def test_snapstarts_month_worked_by_hand():
    """1,769 MB, 20,000 restores of 500 ms against inits of 130 ms: a month's cache, a charge a restore."""
    gb = 1769 / 1024
    on, off = start_bill(1769, 20_000, snapstart=True), start_bill(1769, 20_000)
    assert on.cache == pytest.approx(gb * 30 * 86400 * 0.0000015046)  # about $6.74 for the one live version
    assert on.restores == pytest.approx(20_000 * gb * 0.0001397998)
    assert on.starts == pytest.approx(20_000 * 0.5 * gb * 0.0000166667)
    assert off.starts == pytest.approx(20_000 * 0.13 * gb * 0.0000166667) and off.cache == off.restores == 0
    assert start_bill(1769, 20_000, "arm64", snapstart=True).starts < on.starts
    paying_init_ms, provisioned_above = snapstart_break_even(1769)
    assert paying_init_ms == pytest.approx(500 + 1000 * 0.0001397998 / 0.0000166667)
    one_warm_instance = gb * 30 * 86400 * 0.0000041667
    per_restore = gb * 0.0001397998 + (0.5 - 0.13) * gb * 0.0000166667
    assert provisioned_above == pytest.approx((one_warm_instance - on.cache) / per_restore)


def test_the_deploy_pages_snapstart_table_is_what_make_cost_prints():
    page = (ROOT / "docs" / "deploy.md").read_text()
    printed = subprocess.run([sys.executable, "-m", "deploy.cost", "--memory", "1769", "--duration-ms", "25",
                              "--cold-starts", "20000"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    table = printed[printed.index("Graviton and SnapStart"):printed.index("\n\nThe same")]
    assert table in page


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
    lambda_rows = [line for line in result.stdout.splitlines()
                   if line.startswith("| 1769 MB") and "x86_64" in line or "AWS Lambda" in line]
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
