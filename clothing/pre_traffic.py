"""The pre-traffic check of a gradual rollout: CodeDeploy's hook before a new version gets any traffic.

The template's ``PreTrafficCheck`` function runs this module from the function's own image (so it reads the
reference answers that came with the image's model, ``clothing.reference``) when ``Rollout`` is not
``AllAtOnce``. It sends each reference picture to the new version (``CLASSIFIER_VERSION``, the version's ARN),
compares the answer with the reference, and reports ``Succeeded`` or ``Failed`` to CodeDeploy with
``PutLifecycleEventHookExecutionStatus``: on ``Failed`` CodeDeploy moves no traffic and the deploy rolls back.
Whatever goes wrong here, a status is reported, since CodeDeploy would otherwise wait an hour for one.

Its role may invoke only that version and report only to this stack's deployment group (template.yaml).
"""

import json
import os

from clothing.reference import differences, read_reference, reference_path
from clothing.settings import DEFAULTS

REFERENCE = reference_path(DEFAULTS.model_path)  # beside the model the image carries
REASONS_SHOWN = 5  # failures named in the log line; the count says how many more


def check(invoke, reference: dict) -> list[str]:
    """A line for each reference picture the version answers otherwise; ``invoke`` sends one event."""
    failures = []
    for picture in reference["pictures"]:
        try:
            answered = invoke({"image": picture["image"]})
        except Exception as error:  # a version that cannot be reached fails the check, with the reason
            answered = f"not answered: {type(error).__name__}"
        reason = answered if isinstance(answered, str) else differences(picture["scores"], answered)
        if reason:
            failures.append(f"{picture['name']}: {reason}")
    return failures or ([] if reference["pictures"] else ["the reference file holds no pictures"])


def invoker(lambda_client, version: str):
    """Sends one event to ``version`` and gives its answer; a function error is answered as its type."""
    def invoke(event: dict) -> object:
        response = lambda_client.invoke(FunctionName=version, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            kind = payload.get("errorType", "unknown") if isinstance(payload, dict) else "unknown"
            return f"the function failed ({kind})"
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
