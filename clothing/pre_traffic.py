"""The pre-traffic check of a gradual rollout: CodeDeploy's hook before a new version gets any traffic.

The template's ``PreTrafficCheck`` function runs this module from the function's own image (so it reads the
reference answers that came with the image's model, ``clothing.reference``) when ``Rollout`` is not
``AllAtOnce``. It sends each reference picture to the new version (``CLASSIFIER_VERSION``, the version's ARN),
directly and as API Gateway's proxy events do, compares each answer with the reference, and reports
``Succeeded`` or ``Failed`` to CodeDeploy with ``PutLifecycleEventHookExecutionStatus``: on ``Failed``
CodeDeploy moves no traffic and the deploy rolls back.
Whatever goes wrong here, a status is reported, since CodeDeploy would otherwise wait an hour for one.

Its role may invoke only that version and report only to this stack's deployment group (template.yaml).
"""

import base64
import json
import os
import time

from clothing.lambda_events import CHECK_STAGE
from clothing.reference import differences, read_reference, reference_path
from clothing.settings import DEFAULTS

REFERENCE = reference_path(DEFAULTS.model_path)  # beside the model the image carries
REASONS_SHOWN = 5  # failures named in the log line; the count says how many more
THROTTLE_WAITS = (1, 2, 4, 8)  # seconds before each retry of a throttled invocation: a busy function is no fault


class NotAnswered(Exception):
    """The version gave no answer to judge; the message says why, as a sentence."""


def events(picture: dict) -> dict[str, dict]:
    """One picture as each caller sends it: directly, and as API Gateway's REST proxy does, with the picture's
    bytes as the body and in JSON. The proxy events name the check's own stage, so their answers are counted
    apart from the API's (clothing.lambda_events.proxy_route)."""
    context = {"stage": CHECK_STAGE, "httpMethod": "POST", "path": "/predict", "requestId": "pre-traffic-check"}
    proxy = {"httpMethod": "POST", "path": "/predict", "resource": "/predict", "requestContext": context}
    return {
        "direct": {"image": picture["image"]},
        "API, image body": {**proxy, "headers": {"Content-Type": "image/jpeg"}, "body": picture["image"],
                            "isBase64Encoded": True},
        "API, JSON body": {**proxy, "headers": {"Content-Type": "application/json"},
                           "body": json.dumps({"image": picture["image"]}), "isBase64Encoded": False},
    }


def scores_of(answer: object, proxy: bool) -> object:
    """The scores an answer carries: the answer itself, or a proxy answer's JSON body when its status is 200."""
    if not proxy:
        return answer
    if not isinstance(answer, dict) or answer.get("statusCode") != 200:
        status = answer.get("statusCode") if isinstance(answer, dict) else type(answer).__name__
        raise NotAnswered(f"answered status {status}, not 200")
    body = answer.get("body")
    try:
        return json.loads(base64.b64decode(body) if answer.get("isBase64Encoded") else body)
    except (TypeError, ValueError):
        raise NotAnswered("answered a body that is not JSON") from None


def check(invoke, reference: dict) -> list[str]:
    """A sentence for each reference picture and way of sending it that the version answers otherwise than the
    reference; ``invoke`` sends one event and gives the answer, or raises NotAnswered."""
    failures = []
    for picture in reference["pictures"]:
        for shape, event in events(picture).items():
            try:
                reason = differences(picture["scores"], scores_of(invoke(event), shape != "direct"))
            except NotAnswered as error:
                reason = str(error)
            except Exception as error:  # a version that cannot be reached fails the check, with the reason
                reason = f"not answered: {type(error).__name__}"
            if reason is not None:
                failures.append(f"{picture['name']} ({shape}): {reason or 'no reason given'}")
    return failures or ([] if reference["pictures"] else ["the reference file holds no pictures"])


def invoker(lambda_client, version: str, sleep=time.sleep):
    """Sends one event to ``version`` and gives its answer, retrying a throttled call (THROTTLE_WAITS);
    a function error raises NotAnswered with its type."""
    def invoke(event: dict) -> object:
        for wait in (*THROTTLE_WAITS, None):
            try:
                response = lambda_client.invoke(FunctionName=version, Payload=json.dumps(event).encode())
                break
            except lambda_client.exceptions.TooManyRequestsException:
                if wait is None:
                    raise NotAnswered(f"throttled {len(THROTTLE_WAITS) + 1} times: the function has no "
                                      "concurrency to spare") from None
                sleep(wait)
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            kind = payload.get("errorType", "unknown") if isinstance(payload, dict) else "unknown"
            raise NotAnswered(f"the function failed ({kind})")
        return payload
    return invoke


def lambda_handler(event: dict, context: object = None) -> dict:
    """CodeDeploy's hook: checks the new version, then reports the outcome to the deployment."""
    import boto3  # noqa: PLC0415  (in Lambda's Python runtime, and in the hook only)

    lambda_client, codedeploy = boto3.client("lambda"), boto3.client("codedeploy")
    version = os.environ.get("CLASSIFIER_VERSION", "")
    try:
        failures = check(invoker(lambda_client, version), read_reference(REFERENCE))
    except Exception as error:  # no reference, or one that cannot be read: fail, never leave CodeDeploy waiting
        failures = [f"the reference answers cannot be read ({type(error).__name__})"]
    status = "Failed" if failures else "Succeeded"
    print(json.dumps({"message": "pre-traffic check", "version": version, "status": status,
                      "failures": len(failures), "reasons": failures[:REASONS_SHOWN]}), flush=True)
    codedeploy.put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"], lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=status)
    return {"status": status, "failures": failures}
