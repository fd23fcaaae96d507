"""The catalog's workflow and permissions, read against what AWS documents; asl-validator and moto accept all of
them either way, so each rule is modelled here from AWS's page, cited where it is checked."""

import json
import re
import subprocess

import pytest
from samtranslator.yaml_helper import yaml_parse

from tests.conftest import ROOT
from tests.sam_template import CATALOG_BUCKET, TEMPLATE, catalog_definition, deployed_resources, statements

ASL_VALIDATOR = ROOT / "node_modules" / ".bin" / "asl-validator"

PARAMETERS = yaml_parse(TEMPLATE.read_text())["Parameters"]
EXPRESS_LIMIT_SECONDS = 5 * 60  # an Express workflow runs at most five minutes (Step Functions' quotas page)


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml_parse(TEMPLATE.read_text())


@pytest.fixture(scope="module")
def retriers(template) -> list[dict]:
    definition = catalog_definition({"CatalogBucket": CATALOG_BUCKET})
    return definition["States"]["ClassifyCatalog"]["ItemProcessor"]["States"]["ClassifyBatch"]["Retry"]


def test_every_lambda_service_exception_aws_says_to_retry_is_retried(retriers):
    """https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html lists these."""
    retried = {error for retrier in retriers for error in retrier["ErrorEquals"]}
    assert retried >= {"Lambda.ClientExecutionTimeoutException", "Lambda.ServiceException",
                       "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException"}
    assert "States.ALL" not in retried  # a refused batch (BatchRefused) must fail, not be tried again


def waits(retrier: dict) -> list[float]:
    """Each wait before a retry at its longest: IntervalSeconds times BackoffRate per attempt, capped by
    MaxDelaySeconds; full jitter only ever shortens it (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html)."""
    interval, rate = retrier.get("IntervalSeconds", 1), retrier.get("BackoffRate", 2.0)
    cap = retrier.get("MaxDelaySeconds", float("inf"))
    return [min(interval * rate ** attempt, cap) for attempt in range(retrier.get("MaxAttempts", 3))]


def test_the_worst_case_of_every_retry_fits_an_express_childs_five_minutes(retriers, template):
    """Each retrier counts its own attempts, so the worst case takes all of them: every throttled call (answered
    at once), every failed invocation run to the function's timeout, and every longest wait."""
    timeout = template["Resources"]["ClassifierFunction"]["Properties"]["Timeout"]
    throttles = [r for r in retriers if r["ErrorEquals"] == ["Lambda.TooManyRequestsException"]]
    failures = [r for r in retriers if r not in throttles]
    invocations = 1 + sum(r.get("MaxAttempts", 3) for r in failures)
    worst = invocations * timeout + sum(sum(waits(r)) for r in retriers)
    assert worst <= EXPRESS_LIMIT_SECONDS, f"{worst} s of retries and invocations"


def test_the_failure_threshold_is_described_as_aws_counts_it(template):
    """ToleratedFailurePercentage counts failed items, not batches
    (https://docs.aws.amazon.com/step-functions/latest/dg/maprun-fail-threshold.html)."""
    description = PARAMETERS["CatalogToleratedFailurePercentage"]["Description"]
    assert "items" in description and "share of batches" not in description


def test_the_function_may_list_its_input_prefix_so_a_missing_key_is_404_not_403():
    """GetObject: "If you have the s3:ListBucket permission on the bucket, Amazon S3 returns an HTTP status code
    404 Not Found error. If you don't, Amazon S3 returns an HTTP status code 403"
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html). moto answers 404 either way."""
    role = deployed_resources({"CatalogBucket": CATALOG_BUCKET})["ClassifierFunctionRole"]
    listing = [s for s in statements(role) if s["Action"] == "s3:ListBucket"]
    assert listing == [{"Effect": "Allow", "Action": "s3:ListBucket",
                        "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${CatalogBucket}"},
                        "Condition": {"StringLike": {"s3:prefix": {"Fn::Sub": "${CatalogInputPrefix}*"}}}}]


def test_by_default_a_catalog_run_leaves_instances_for_the_api():
    """Reserved concurrency caps the function, API and catalog together: a run of MaxConcurrency batches at once
    would throttle every API request (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html)."""
    from deploy.classify_bucket import CATALOG_SHARE

    catalog, cap = PARAMETERS["CatalogConcurrency"]["Default"], PARAMETERS["MaxConcurrency"]["Default"]
    assert catalog <= int(cap * CATALOG_SHARE) < cap


def test_the_catalog_exists_only_when_a_bucket_is_given():
    without, with_bucket = deployed_resources({}), deployed_resources({"CatalogBucket": CATALOG_BUCKET})
    assert {"CatalogStateMachine", "CatalogRole"} <= set(with_bucket)
    assert not {"CatalogStateMachine", "CatalogRole"} & set(without)
    assert without["ClassifierFunctionRole"]["Properties"]["Policies"] == [{"Ref": "AWS::NoValue"}]


def settings(definition: dict) -> dict:
    """The Settings state's output: each States.StringToJson('<number>') evaluated as Step Functions does."""
    parameters = definition["States"]["Settings"]["Parameters"]
    intrinsic = re.compile(r"States\.StringToJson\('([^']*)'\)")
    return {key.removesuffix(".$"): json.loads(intrinsic.fullmatch(value).group(1))
            for key, value in parameters.items()}


def read_path(state_input: dict, path: str):
    assert path.startswith("$."), path
    return state_input[path.removeprefix("$.")]


@pytest.mark.process
@pytest.mark.parametrize("parameters", [
    {}, {"CatalogBatchSize": "1", "CatalogConcurrency": "1", "CatalogToleratedFailurePercentage": "0"},
    {"CatalogBatchSize": "100", "CatalogConcurrency": "10000", "CatalogToleratedFailurePercentage": "100",
     "CatalogInputPrefix": "photos/2026/", "CatalogResultsPrefix": "labels/"}])
def test_the_catalog_definition_is_valid_amazon_states_language(tmp_path, parameters):
    definition = catalog_definition({"CatalogBucket": CATALOG_BUCKET, **parameters})
    assert definition["StartAt"] == "Settings" and definition["States"]["Settings"]["Next"] == "ClassifyCatalog"
    catalog = definition["States"]["ClassifyCatalog"]
    assert catalog["ItemReader"]["Parameters"] == {"Bucket": CATALOG_BUCKET,
                                                   "Prefix": parameters.get("CatalogInputPrefix", "catalog/")}
    path = tmp_path / "catalog.asl.json"
    path.write_text(json.dumps(definition))
    result = subprocess.run([str(ASL_VALIDATOR), "--json-path", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("parameters", [
    {}, {"CatalogBatchSize": "1", "CatalogConcurrency": "1", "CatalogToleratedFailurePercentage": "0"},
    {"CatalogBatchSize": "100", "CatalogConcurrency": "10000", "CatalogToleratedFailurePercentage": "100"}])
def test_the_map_reads_the_template_numbers_as_numbers(parameters):
    """DefinitionSubstitutions puts a value in as a string, and MaxItemsPerBatchPath, MaxConcurrencyPath and
    ToleratedFailurePercentagePath must name a number in the state's input
    (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html): the Settings state turns
    each back into one."""
    definition = catalog_definition({"CatalogBucket": CATALOG_BUCKET, **parameters})
    state_input, catalog = settings(definition), definition["States"]["ClassifyCatalog"]
    read = {"CatalogBatchSize": read_path(state_input, catalog["ItemBatcher"]["MaxItemsPerBatchPath"]),
            "CatalogConcurrency": read_path(state_input, catalog["MaxConcurrencyPath"]),
            "CatalogToleratedFailurePercentage": read_path(state_input, catalog["ToleratedFailurePercentagePath"])}
    for name, value in read.items():
        assert type(value) is int and value == int(parameters.get(name, PARAMETERS[name]["Default"])), name


def test_every_placeholder_of_the_definition_file_has_a_substitution_and_every_substitution_a_use():
    """CloudFormation leaves a ``${Name}`` with no substitution in the definition as it is, and Step Functions
    then fails at run time; a substitution nothing uses is a name a maintainer must remember for nothing."""
    machine = yaml_parse(TEMPLATE.read_text())["Resources"]["CatalogStateMachine"]["Properties"]
    text = (ROOT / machine["DefinitionUri"]).read_text()
    json.loads(text)  # the file is JSON as it is, as the Step Functions console and asl-validator read it
    assert set(re.findall(r"\$\{([^}]+)\}", text)) == set(machine["DefinitionSubstitutions"])


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
