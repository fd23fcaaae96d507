"""The deployment, checked offline: the template lints, its API event reaches the handler, the bill adds up."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.decode import decode

import lambda_function
from clothing.labels import CLASSES
from clothing.settings import ENVIRONMENT_VARIABLES
from deploy.cost import monthly_bill
from tests.conftest import ROOT

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


def test_the_templates_api_event_gets_a_200_from_the_handler(template, image_server):
    function = template["Resources"]["ClassifierFunction"]["Properties"]
    api = function["Events"]["Predict"]["Properties"]
    stage = template["Resources"]["ClassifierApi"]["Properties"]["StageName"]
    body = json.dumps({"url": f"{image_server}/images/pants-1.jpg"})
    generated = subprocess.run(
        [*SAM, "local", "generate-event", "apigateway", "aws-proxy", "--method", api["Method"].upper(),
         "--path", api["Path"].strip("/"), "--resource", api["Path"], "--stage", stage, "--body", body],
        env=SAM_ENV, capture_output=True, text=True, check=True, timeout=120,
    )
    event = json.loads(generated.stdout)
    assert (event["httpMethod"], event["path"]) == ("POST", "/predict")
    response = lambda_function.lambda_handler(event, None)
    assert response["statusCode"] == 200
    assert list(json.loads(response["body"])) == list(CLASSES)


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
