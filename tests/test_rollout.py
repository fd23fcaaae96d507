"""The template's Rollout: AllAtOnce deploys as a plain alias update; every other choice shifts live through
CodeDeploy after the pre-traffic check, watched by alarms that roll it back.

SAM's transform is run for real (tests/sam_template.py). What it cannot show is modelled from AWS's pages:
- SAM's CodeDeploy role carries the managed policy AWSCodeDeployRoleForLambda, which lets CodeDeploy invoke only
  functions named ``CodeDeployHook_*`` (AWS Managed Policy Reference, AWSCodeDeployRoleForLambda; SAM's
  "Deploying serverless applications gradually" page names the hook that way);
- CloudFormation names a resource that has no name of its own ``<stack>-<logical id>-<random suffix>``
  (CloudFormation User Guide, "Name type"), which the hook's permission to report relies on;
- Lambda publishes a version's metrics under FunctionName, Resource (``function:alias``) and ExecutedVersion
  (Lambda Developer Guide, "Types of metrics for Lambda functions").
"""

import copy
import fnmatch
import json
import subprocess
import sys
from pathlib import Path

import pytest
from samtranslator.yaml_helper import yaml_parse

from tests.conftest import ROOT
from tests.sam_template import TEMPLATE, deployed_resources, statements, substituted

ROLLOUTS = yaml_parse(TEMPLATE.read_text())["Parameters"]["Rollout"]["AllowedValues"]
GRADUAL = [rollout for rollout in ROLLOUTS if rollout != "AllAtOnce"]
ROLLBACK_ALARMS = ["NewVersionErrorsAlarm", "NewVersionServerErrorsAlarm", "NewVersionLatencyAlarm"]
MONITORING = {*ROLLBACK_ALARMS, "CapacityAlarm", "ApiServerErrorsAlarm", "LowConfidenceAlarm", "Dashboard"}
STACK = "clothing"


def version_of(resources: dict) -> str:
    """The logical id of the version live points to."""
    return resources["ClassifierFunctionAliaslive"]["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]


def without_rollout(template: dict) -> dict:
    """The template as it was before Rollout: no deployment preference, hook, alarms or dashboard."""
    older = copy.deepcopy(template)
    del older["Resources"]["ClassifierFunction"]["Properties"]["DeploymentPreference"]
    for name in MONITORING | {"PreTrafficCheck", "PreTrafficCheckLogGroup"}:
        del older["Resources"][name]
    return older


def test_all_at_once_deploys_exactly_as_without_rollout_plus_the_alarms_and_dashboard():
    template = yaml_parse(TEMPLATE.read_text())
    now, before = deployed_resources({}), deployed_resources({}, template=without_rollout(template))
    assert not [name for name, r in now.items() if r["Type"].startswith("AWS::CodeDeploy::")]
    assert "PreTrafficCheck" not in now and "UpdatePolicy" not in now["ClassifierFunctionAliaslive"]
    assert set(now) - set(before) == MONITORING
    assert {name: now[name] for name in before} == before


@pytest.mark.parametrize("rollout", GRADUAL)
def test_a_gradual_rollout_shifts_live_through_codedeploy_after_the_hook_watched_by_three_alarms(rollout):
    resources = deployed_resources({"Rollout": rollout})
    group = resources["ClassifierFunctionDeploymentGroup"]["Properties"]
    assert substituted(*group["DeploymentConfigName"]["Fn::Sub"]) == f"CodeDeployDefault.Lambda{rollout}"
    assert group["AlarmConfiguration"] == {"Enabled": True, "Alarms": [{"Name": {"Ref": a}} for a in ROLLBACK_ALARMS]}
    assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]
    update = resources["ClassifierFunctionAliaslive"]["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
    assert update["BeforeAllowTrafficHook"] == {"Ref": "PreTrafficCheck"}
    hook = resources["PreTrafficCheck"]["Properties"]
    assert hook["ImageConfig"]["Command"] == ["clothing.pre_traffic.lambda_handler"]
    assert hook["Environment"]["Variables"]["CLASSIFIER_VERSION"] == {"Ref": version_of(resources)}  # the new one
    assert hook["Architectures"] == resources["ClassifierFunction"]["Properties"]["Architectures"]


def test_codedeploy_may_invoke_the_hook_and_the_hooks_role_only_the_new_version_and_this_stacks_group():
    """CodeDeploy's role allows what a Lambda deployment does: AWSCodeDeployRoleForLambda's actions for Lambda
    and CloudWatch, on this function's alias and this stack's hook alone, without its sns:Publish and
    s3:GetObject on "*" (AWS Managed Policy Reference, AWSCodeDeployRoleForLambda)."""
    resources = deployed_resources({"Rollout": "Canary10Percent5Minutes"})
    assert "CodeDeployServiceRole" not in resources  # SAM's default role, with the managed policy
    group = resources["ClassifierFunctionDeploymentGroup"]["Properties"]
    assert group["ServiceRoleArn"] == {"Fn::GetAtt": ["CodeDeployRole", "Arn"]}
    role = resources["CodeDeployRole"]["Properties"]
    assert "ManagedPolicyArns" not in role
    granted = {action: statement["Resource"] for statement in statements(resources["CodeDeployRole"])
               for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])}
    assert set(granted) == {"cloudwatch:DescribeAlarms", "lambda:GetAlias", "lambda:UpdateAlias",
                            "lambda:GetProvisionedConcurrencyConfig", "lambda:InvokeFunction"}
    alias = substituted(granted["lambda:UpdateAlias"]["Fn::Sub"], {
        "AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
        "ClassifierFunction": "clothing-ClassifierFunction-abc"})
    assert alias == "arn:aws:lambda:us-east-1:123456789012:function:clothing-ClassifierFunction-abc:live"
    assert granted["lambda:InvokeFunction"][0] == {"Fn::GetAtt": ["PreTrafficCheck", "Arn"]}
    hook_name = substituted(resources["PreTrafficCheck"]["Properties"]["FunctionName"]["Fn::Sub"],
                            {"AWS::StackName": STACK})
    assert fnmatch.fnmatchcase(hook_name, "CodeDeployHook_*")  # what the managed policy would let it invoke

    invoke, report = statements(resources["PreTrafficCheckRole"])
    assert (invoke["Action"], invoke["Resource"]) == ("lambda:InvokeFunction", {"Ref": version_of(resources)})
    assert report["Action"] == "codedeploy:PutLifecycleEventHookExecutionStatus"
    granted = substituted(report["Resource"]["Fn::Sub"], {"AWS::Partition": "aws", "AWS::Region": "us-east-1",
                                                           "AWS::AccountId": "123456789012",
                                                           "AWS::StackName": STACK})
    group = "arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:{}-ServerlessDeploymentApplication-" \
            "1U6U5Z3K1Y2C7/{}-ClassifierFunctionDeploymentGroup-14ZMVLQJ7CJ2Y"
    assert fnmatch.fnmatchcase(group.format(STACK, STACK), granted)
    assert not fnmatch.fnmatchcase(group.format("shop", "shop"), granted)  # another stack's deploys


def test_the_version_alarms_watch_the_version_live_moves_to_and_their_thresholds_are_parameters():
    """tests/test_alarms.py shows what fires for what AWS emits; this, that they name the new version."""
    resources = deployed_resources({"Rollout": "Linear10PercentEvery1Minute", "LatencyBudgetMs": "1500"})
    version = {"Fn::GetAtt": [version_of(resources), "Version"]}
    errors = {d["Name"]: d["Value"] for d in resources["NewVersionErrorsAlarm"]["Properties"]["Dimensions"]}
    assert (errors["ExecutedVersion"], errors["Resource"]) == (version, {"Fn::Sub": "${ClassifierFunction}:live"})
    for name in ("NewVersionServerErrorsAlarm", "NewVersionLatencyAlarm"):
        dimensions = {d["Name"]: d["Value"] for d in resources[name]["Properties"]["Dimensions"]}
        assert dimensions == {"service": {"Ref": "ClassifierFunction"}, "route": "api", "version": version}
    latency = resources["NewVersionLatencyAlarm"]["Properties"]
    assert (latency["ExtendedStatistic"], latency["Threshold"]) == ("p99", "1500")
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert not [alarm for alarm in alarms if "Metrics" in alarm]  # no metric math: no late point can fire one


def test_the_dashboard_is_json_with_latency_errors_throttles_cold_starts_and_the_classes():
    body = deployed_resources({})["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    text = substituted(body[0], {"AWS::Region": "us-east-1", "AWS::StackName": STACK, "ApiStage": "test",
                                 "Function": "clothing-ClassifierFunction-abc"})
    widgets = json.loads(text)["widgets"]
    shown = json.dumps(widgets)
    for metric in ("Latency", "Duration", "ServerErrors", "Errors", "Throttles", "ColdStart", "5XXError",
                   "LowConfidence"):
        assert metric in shown, metric
    assert {w["properties"]["title"] for w in widgets} >= {"API latency (ms)", "API answers by class",
                                                          "Catalog: pictures, errors and latency (ms)"}
    assert {"stat": "p99", "label": "p99"} in widgets[0]["properties"]["metrics"][1]


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> list[Path]:
    """template.yaml with each Rollout as its default, since cfn-lint and checkov read the defaults."""
    folder = tmp_path_factory.mktemp("rollouts")
    text = TEMPLATE.read_text()
    assert "    Default: AllAtOnce\n" in text
    paths = []
    for number, rollout in enumerate(ROLLOUTS):
        path = folder / f"rollout-{number}.yaml"  # checkov's secrets check takes some rollouts' names for keys
        path.write_text(text.replace("    Default: AllAtOnce\n", f"    Default: {rollout}\n"))
        paths.append(path)
    return paths


@pytest.mark.process
def test_cfn_lint_is_clean_with_every_rollout(templates):
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([cfn_lint, "--append-rules", "cfn_lint_serverless.rules", "--", *map(str, templates)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.process
def test_checkov_is_clean_with_every_rollout(templates):
    checkov = ROOT / "build" / "checkov-venv" / "bin" / "checkov"  # make environments builds it
    result = subprocess.run([str(checkov), "--quiet", "--compact", "--skip-download", "--framework", "cloudformation",
                             *(arg for path in templates for arg in ("-f", str(path)))],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
