"""Start the deployed catalog workflow, and say where its results will be.

    python -m deploy.classify_bucket [--stack NAME] [--wait]

The stack is the one ``make deploy`` saved in samconfig.toml, unless ``--stack`` names another; it must have
been deployed with ``CatalogBucket`` set (docs/catalog.md). Every mistake is one line and exit status 2; with
``--wait``, a run that does not succeed ends with exit status 1.
"""

import argparse
import sys
import time

import boto3
import botocore.exceptions

from deploy.preflight import credentials_problem
from deploy.stack import Refusal, outputs_of, stack_name

DONE = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


def catalog_of(stack: str) -> tuple[str, str]:
    """The stack's state machine and results location, from its outputs."""
    outputs = outputs_of(stack)
    if "CatalogStateMachine" not in outputs:
        raise Refusal(f"stack {stack!r} has no catalog: deploy it with CatalogBucket set (make deploy, "
                      "or sam deploy --parameter-overrides CatalogBucket=your-bucket)")
    return outputs["CatalogStateMachine"], outputs["CatalogResults"]


def start(stack: str, wait: bool, poll_seconds: float = 10) -> tuple[list[str], bool]:
    """Start a run; the lines to print, and whether it went well (with ``wait``, whether it succeeded)."""
    state_machine, results = catalog_of(stack)
    stepfunctions = boto3.client("stepfunctions")
    execution = stepfunctions.start_execution(stateMachineArn=state_machine)["executionArn"]
    lines = [f"started {execution}",
             f"results: {results}<map run id>/ (manifest.json, then SUCCEEDED_*.json and FAILED_*.json) "
             "when the run ends"]
    if wait:
        while (status := stepfunctions.describe_execution(executionArn=execution)["status"]) not in DONE:
            time.sleep(poll_seconds)
        lines.append(f"ended: {status}")
        return lines, status == "SUCCEEDED"
    return lines, True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make classify-bucket", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", help="the stack's name (default: the one in samconfig.toml)")
    parser.add_argument("--wait", action="store_true", help="wait for the run to end and say how it ended")
    args = parser.parse_args(argv)
    try:
        if problem := credentials_problem():
            raise Refusal(problem)
        lines, went_well = start(stack_name(args.stack), args.wait)
    except Refusal as refusal:
        print(f"make classify-bucket: {refusal}", file=sys.stderr)
        return 2
    except botocore.exceptions.BotoCoreError as error:  # no network, an endpoint that does not answer
        print(f"make classify-bucket: AWS cannot be reached: {error}", file=sys.stderr)
        return 2
    except botocore.exceptions.ClientError as error:
        print(f"make classify-bucket: AWS refused: {error.response['Error'].get('Message', error)}",
              file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0 if went_well else 1


if __name__ == "__main__":
    sys.exit(main())
