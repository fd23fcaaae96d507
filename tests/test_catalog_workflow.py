"""The catalog's workflow and permissions, read against what AWS documents; asl-validator and moto accept all of
them either way, so each rule is modelled here from AWS's page, cited where it is checked."""

import pytest
from samtranslator.yaml_helper import yaml_parse

from tests.sam_template import CATALOG_BUCKET, TEMPLATE, catalog_definition, deployed_resources, statements

PARAMETERS = yaml_parse(TEMPLATE.read_text())["Parameters"]
EXPRESS_LIMIT_SECONDS = 5 * 60  # an Express workflow runs at most five minutes (Step Functions' quotas page)


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml_parse(TEMPLATE.read_text())


@pytest.fixture(scope="module")
def retriers(template) -> list[dict]:
    definition = catalog_definition({"CatalogBucket": CATALOG_BUCKET}, template)
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
