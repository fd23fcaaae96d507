"""The template as CloudFormation would deploy it: SAM's own transform, then the template's conditions and
the parameters' values resolved as CloudFormation resolves them."""

import copy
import functools
import itertools
import json
import os
import re

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from tests.conftest import ROOT

TEMPLATE = ROOT / "template.yaml"


class NoManagedPolicies:
    """The transform looks up managed policy names only for policies the template does not use."""

    def load(self) -> dict:
        return {}


ARTIFACTS_BUCKET = "aws-sam-cli-managed-default-samclisourcebucket"
IMAGE_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/clothing-classifier:1"


def deployed_resources(parameters: dict[str, str], image_uri: str = IMAGE_URI, template: dict | None = None) -> dict:
    """The resources CloudFormation would create: the real SAM transform, then the template's conditions.
    ``template``: another template than template.yaml, parsed. A copy each call: a test may change it."""
    if template is not None:
        return _deployed(parameters, image_uri, template)
    return copy.deepcopy(_deployed_template_yaml(tuple(sorted(parameters.items())), image_uri, TEMPLATE.read_text()))


@functools.cache
def _deployed_template_yaml(parameters: tuple, image_uri: str, text: str) -> dict:
    """template.yaml's resources, transformed once for each set of parameter values (and each text of it)."""
    return _deployed(dict(parameters), image_uri, yaml_parse(text))


def _deployed(parameters: dict[str, str], image_uri: str, sam_template: dict) -> dict:
    for resource in sam_template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["ImageUri"] = image_uri  # as sam deploy sets it
        if resource["Type"] == "AWS::Serverless::StateMachine":  # sam deploy uploads the file and names it
            resource["Properties"]["DefinitionUri"] = {"Bucket": ARTIFACTS_BUCKET,
                                                       "Key": resource["Properties"]["DefinitionUri"]}
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
    """Every combination of the values of the parameters that list their allowed values, Rollout's apart
    (tests/test_rollout.py takes each of those)."""
    choices = {name: spec["AllowedValues"] for name, spec in template["Parameters"].items()
               if "AllowedValues" in spec and name != "Rollout"}
    return [dict(zip(choices, combination, strict=True)) for combination in itertools.product(*choices.values())]


CATALOG_BUCKET = "shop-catalog"


def substituted(text: str, values: dict) -> str:
    """``text`` with each ``${Name}`` replaced, as Fn::Sub replaces it; a name with no value is a KeyError."""
    return re.sub(r"\$\{([^}!]+)\}", lambda match: str(values[match.group(1)]), text)


def catalog_definition(parameters: dict[str, str]) -> dict:
    """The catalog's state machine as Step Functions would receive it, for these parameter values: the file that
    DefinitionUri names, with DefinitionSubstitutions' values put in as CloudFormation puts them."""
    machine = deployed_resources(parameters)["CatalogStateMachine"]["Properties"]
    names = {"AWS::Partition": "aws",
             "ClassifierFunctionAliaslive": "arn:aws:lambda:us-east-1:123456789012:function:clothing-classifier:live"}
    substitutions = {key: names[value["Ref"]] if isinstance(value, dict) else value
                     for key, value in machine["DefinitionSubstitutions"].items()}
    return json.loads(substituted((ROOT / machine["DefinitionS3Location"]["Key"]).read_text(), substitutions))


def statements(role: dict) -> list[dict]:
    return [statement for policy in role["Properties"]["Policies"]
            for statement in policy["PolicyDocument"]["Statement"]]
