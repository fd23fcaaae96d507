"""Every deploy that changes what the function runs publishes a new version and moves the alias ``live`` to it;
a deploy that changes nothing publishes nothing.

SAM names the ``AWS::Lambda::Version`` by a hash of the function's properties taken before CloudFormation
resolves the parameters (SAM issue #1640, aws/serverless-application-model), so a change of
parameter alone leaves the same version resource with the same properties, and CloudFormation publishes
nothing. CloudFormation replaces a version, publishing a new one, when its logical id changes or when its
``Description`` or ``CodeSha256`` does ("Update requires: Replacement",
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-lambda-version.html).
These tests run SAM's own transform, then resolve ``Ref`` and ``Fn::Sub`` as CloudFormation does.
"""

import pytest
from samtranslator.yaml_helper import yaml_parse

from tests.sam_template import TEMPLATE, deployed_resources, substituted

# The properties of AWS::Lambda::Version whose change replaces it (the page above).
REPLACING = ("CodeSha256", "Description", "FunctionName", "RuntimePolicy")
# One changed value for every parameter that changes the function's configuration.
CHANGES = {
    "MemorySize": "3008",
    "Architecture": "arm64",
    "SnapStart": "on",
    "InterpreterThreads": "2",
    "MaxImageBytes": "5242880",
    "CatalogBucket": "another-catalog",
    "CatalogInputPrefix": "photos/2026/",
}
PARAMETERS = yaml_parse(TEMPLATE.read_text())["Parameters"]


def resolved(node, values: dict):
    """``node`` with ``Ref`` and ``Fn::Sub`` of parameters replaced by their values, as CloudFormation does."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in values:
            return values[node["Ref"]]
        if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
            return substituted(node["Fn::Sub"], values)
        return {key: resolved(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [resolved(value, values) for value in node]
    return node


def published_version(parameters: dict[str, str], image_uri: str | None = None) -> tuple[str, dict]:
    """The version CloudFormation would hold after deploying ``parameters``: its logical id and the values of
    its replacing properties."""
    resources = deployed_resources(parameters, **({"image_uri": image_uri} if image_uri else {}))
    [(name, version)] = [(n, r) for n, r in resources.items() if r["Type"] == "AWS::Lambda::Version"]
    values = {name: parameters.get(name, str(spec.get("Default", ""))) for name, spec in PARAMETERS.items()}
    properties = resolved(version["Properties"], values)
    return name, {key: properties.get(key) for key in REPLACING}


@pytest.mark.parametrize("parameter", sorted(CHANGES))
def test_a_change_of_parameter_alone_publishes_a_new_version(parameter):
    before = published_version({})
    after = published_version({parameter: CHANGES[parameter]})
    assert after != before, f"{parameter} changed, yet CloudFormation would keep the version {before[0]}"


@pytest.mark.parametrize("parameters", [{}, {"SnapStart": "on"}])
def test_a_replaced_or_removed_version_is_kept_to_return_to(parameters):
    """A parameter-only change replaces the version under its name (above); a new image removes it from the
    template under a new name. CloudFormation deletes a replaced resource unless its UpdateReplacePolicy says
    Retain, and a removed one unless its DeletionPolicy does (CloudFormation User Guide, "UpdateReplacePolicy
    attribute" and "DeletionPolicy attribute"): both must, as the translator outputs the version."""
    [version] = [r for r in deployed_resources(parameters).values() if r["Type"] == "AWS::Lambda::Version"]
    assert (version.get("UpdateReplacePolicy"), version.get("DeletionPolicy")) == ("Retain", "Retain")


def test_the_alias_points_at_the_version_the_deploy_publishes():
    resources = deployed_resources({"MemorySize": "3008"})
    [alias] = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Alias"]
    name, _ = published_version({"MemorySize": "3008"})
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [name, "Version"]}


def test_a_new_image_publishes_a_new_version():
    assert published_version({}, image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/c:2") != \
        published_version({}, image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/c:3")


def test_an_unchanged_deploy_publishes_nothing_new():
    assert published_version(dict(CHANGES)) == published_version(dict(CHANGES))
    assert published_version({}) == published_version({})


@pytest.mark.parametrize("parameters", [{"RequireApiKey": "false"}, {"MaxConcurrency": "3"},
                                        {"CatalogBucket": "shop", "CatalogConcurrency": "4"}])
def test_what_the_function_does_not_run_with_publishes_nothing_new(parameters):
    """Reserved concurrency, the API key and the catalog's own settings belong to the function or the API, not
    to a version: a new version for them would be a SnapStart snapshot paid for nothing."""
    base = {"CatalogBucket": parameters["CatalogBucket"]} if "CatalogBucket" in parameters else {}
    assert published_version(parameters) == published_version(base)


def test_the_longest_description_fits_the_versions_256_characters():
    longest = {
        "MemorySize": str(PARAMETERS["MemorySize"]["MaxValue"]),
        "MaxImageBytes": str(PARAMETERS["MaxImageBytes"]["MaxValue"]),
        "InterpreterThreads": max(PARAMETERS["InterpreterThreads"]["AllowedValues"], key=len),
        "SnapStart": max(PARAMETERS["SnapStart"]["AllowedValues"], key=len),
        "Architecture": max(PARAMETERS["Architecture"]["AllowedValues"], key=len),
        "CatalogBucket": "b" * 63,  # S3's longest bucket name
        "CatalogInputPrefix": "p" * (PARAMETERS["CatalogInputPrefix"]["MaxLength"] - 1) + "/",
    }
    _, properties = published_version(longest)
    assert 0 < len(properties["Description"]) <= 256
