"""openapi.yaml, the API's description: valid OpenAPI 3.1, one truth with the function's errors, labels and the
template's API, served by the local API, and held to by the function under schemathesis's generated requests.

The deployed REST API is written as plain API Gateway resources (SAM cannot make its API key optional), so it
is not built from the document; instead the transformed template and the document must describe the same
routes, methods, API keys and binary media types.
"""

import json
from urllib.parse import urlsplit, urlunsplit

import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from clothing import errors
from tests.conftest import LABELS, ROOT
from tests.sam_template import deployed_resources

DOCUMENT = yaml.safe_load((ROOT / "openapi.yaml").read_text())
SCHEMAS = DOCUMENT["components"]["schemas"]
# The statuses docs/contract.md lists for the API (a catalog's NotFound never comes through it), and those API
# Gateway answers itself ("Gateway response types for API Gateway"; "Handling Lambda errors with an API Gateway
# API": "If the Lambda API rejects the invocation request, API Gateway returns a 500 error code").
API_STATUSES = {"200", "400", "403", "405", "413", "422", "500", "502", "504"}
GATEWAY_STATUSES = {"403": "a missing or wrong API key", "413": "a body over 10 MB",
                    "429": "the stage's throttle or the usage plan", "500": "an invocation Lambda refused",
                    "502": "a function that failed", "504": "no answer within 29 s"}


def error_classes() -> list[type[errors.ClothingError]]:
    found, todo = [], [errors.ClothingError]
    while todo:
        found.append(cls := todo.pop())
        todo.extend(cls.__subclasses__())
    return found


def test_the_document_is_valid_openapi_3_1():
    validate(DOCUMENT)
    assert DOCUMENT["openapi"].startswith("3.1")


def test_every_error_type_the_function_answers_is_in_the_document_and_no_other():
    assert sorted(SCHEMAS["Error"]["properties"]["type"]["enum"]) == sorted(c.error_type for c in error_classes())


def test_every_status_the_api_answers_is_listed_and_there_is_no_catch_all():
    responses = DOCUMENT["paths"]["/predict"]["post"]["responses"]
    assert set(responses) == API_STATUSES | set(GATEWAY_STATUSES) and "default" not in responses
    assert {str(c.status) for c in error_classes() if c is not errors.NotFound} <= API_STATUSES


def test_every_answer_api_gateway_gives_itself_is_documented_with_its_own_body():
    responses = DOCUMENT["paths"]["/predict"]["post"]["responses"]
    for status in GATEWAY_STATUSES:
        schema = responses[status]["content"]["application/json"]["schema"]
        options = [option["$ref"] for option in schema.get("oneOf", [schema])]
        assert "#/components/schemas/GatewayMessage" in options, status


def test_a_rendering_api_gateway_can_import_is_valid_openapi_3_0_with_the_same_operations():
    """API Gateway imports OpenAPI 2.0 and 3.0, not 3.1 ("Develop REST APIs using OpenAPI in API Gateway")."""
    from openapi_spec_validator import OpenAPIV30SpecValidator

    from scripts.api_reference import as_openapi_30

    rendered = as_openapi_30(DOCUMENT)
    OpenAPIV30SpecValidator(rendered).validate()
    assert rendered["openapi"] == "3.0.3"
    assert {route: set(op["responses"]) for route, op in operations(rendered).items()} == \
        {route: set(op["responses"]) for route, op in operations(DOCUMENT).items()}


def test_the_scores_are_the_shipped_models_labels_in_its_order():
    scores = SCHEMAS["Scores"]
    assert tuple(scores["properties"]) == LABELS and tuple(scores["required"]) == LABELS


def operations(document: dict) -> dict[tuple[str, str], dict]:
    return {(method.upper(), path): operation for path, item in document["paths"].items()
            for method, operation in item.items()}


def template_methods(parameters: dict[str, str]) -> dict[tuple[str, str], dict]:
    resources = deployed_resources(parameters)
    methods = {}
    for resource in resources.values():
        if resource["Type"] != "AWS::ApiGateway::Method":
            continue
        properties = resource["Properties"]
        parent = properties["ResourceId"]
        path = "/" if "Fn::GetAtt" in parent else "/" + resources[parent["Ref"]]["Properties"]["PathPart"]
        methods[(properties["HttpMethod"], path)] = properties
    return methods


def test_the_template_and_the_document_describe_the_same_routes_keys_and_media_types():
    documented, deployed = operations(DOCUMENT), template_methods({"RequireApiKey": "true"})
    assert set(documented) == set(deployed)
    global_security = DOCUMENT.get("security", [])
    for route, operation in documented.items():
        needs_key = bool(operation.get("security", global_security))
        assert deployed[route]["ApiKeyRequired"] is needs_key, route
    [api] = [r["Properties"] for r in deployed_resources({}).values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    body = documented[("POST", "/predict")]["requestBody"]["content"]
    assert sorted(media for media in body if media != "application/json") == sorted(api["BinaryMediaTypes"])
    assert DOCUMENT["components"]["securitySchemes"]["apiKey"] == {**DOCUMENT["components"]["securitySchemes"][
        "apiKey"], "type": "apiKey", "in": "header", "name": "x-api-key"}


def test_the_local_api_serves_the_document(served):
    answer = requests.get(f"{served.api_url}/openapi.json", timeout=30)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
    assert answer.json() == json.loads(json.dumps(DOCUMENT))


SCHEMA = schemathesis.openapi.from_path(ROOT / "openapi.yaml")
# RFC 6761: a name under .invalid never resolves, so a generated URL reaches no host, here or anywhere.
NOWHERE = "fuzz.invalid"


def nowhere(url: str) -> str:
    """The generated URL with its host replaced, keeping the scheme, port, path and query the fuzzer made."""
    try:
        parts = urlsplit(url)
        if parts.netloc:
            port = f":{parts.port}" if parts.port else ""
            return urlunsplit(parts._replace(netloc=NOWHERE + port))
    except ValueError:  # a string that is not a URL at all: the function says so
        pass
    return url


@SCHEMA.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_generated_requests_get_documented_answers_and_never_a_server_error(case, served):
    """About a hundred requests from the document (fifty an operation): each answer's status, content type and
    body as documented, and no 500. 502 and 504 are documented answers for an image host that fails or stalls;
    no generated URL reaches one, since every host is replaced by one that does not exist."""
    if isinstance(case.body, dict) and isinstance(case.body.get("url"), str):
        case.body["url"] = nowhere(case.body["url"])
    response = case.call_and_validate(base_url=served.api_url, timeout=60, checks=[
        status_code_conformance, content_type_conformance, response_schema_conformance])
    assert response.status_code != 500, response.text


def test_the_docs_reference_is_rendered_from_the_document():
    from scripts.api_reference import PAGE, render

    assert PAGE.read_text() == render(DOCUMENT), "run python -m scripts.api_reference"
