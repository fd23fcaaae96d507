"""Delete the function's published versions that no alias points to.

    python -m deploy.prune [--stack NAME | --function NAME] [--keep 1] [--dry-run]
    make prune ARGS="--dry-run"

Every deploy that changes what the function runs publishes a version, and CloudFormation keeps the old ones
(the template's UpdateReplacePolicy and SAM's DeletionPolicy retain them). They cost nothing without
SnapStart. With SnapStart each holds a snapshot, billed per
GB-second until Lambda deletes it after 14 days without an invocation
(https://docs.aws.amazon.com/lambda/latest/dg/snapstart-security.html): pruning ends that charge at once.
The versions an alias points to (``live``, and a canary's second version) are kept, and so are the newest
``--keep`` others, to roll back to by hand. While the stack is being deployed nothing is deleted: a gradual
rollout's new version has no alias until its pre-traffic check passes.
"""

import argparse
import sys

import boto3

from deploy.preflight import credentials_problem
from deploy.stack import Refusal, described, outputs_of, said_in_one_line, stack_name

STACK_TAG = "aws:cloudformation:stack-name"  # CloudFormation tags what it creates with its stack's name


def unaliased_versions(lambda_client, function: str, keep: int) -> list[str]:
    """The numbered versions to delete, oldest first: not pointed to by an alias, and not the newest ``keep``."""
    aliased = set()
    for page in lambda_client.get_paginator("list_aliases").paginate(FunctionName=function):
        for alias in page["Aliases"]:
            aliased.add(alias["FunctionVersion"])
            aliased |= set(alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}))
    numbered = sorted(int(version["Version"])
                       for page in lambda_client.get_paginator("list_versions_by_function").paginate(
                           FunctionName=function)
                       for version in page["Versions"] if version["Version"] != "$LATEST")
    candidates = [version for version in numbered if str(version) not in aliased]
    return [str(version) for version in candidates[:max(0, len(candidates) - keep)]]


def prune(function: str, keep: int, dry_run: bool, lambda_client=None) -> list[str]:
    """The lines to print: each version deleted (or, with ``dry_run``, that would be)."""
    lambda_client = lambda_client or boto3.client("lambda")
    doomed = unaliased_versions(lambda_client, function, keep)
    for version in doomed if not dry_run else ():
        lambda_client.delete_function(FunctionName=function, Qualifier=version)
    verb = "would delete" if dry_run else "deleted"
    return [f"{verb} {function}:{version}" for version in doomed] or [f"{function}: no version to delete"]


def check_not_deploying(stack: str) -> None:
    """Refuses while the stack is being created, updated or rolled back."""
    status = described(stack)["StackStatus"]
    if status.endswith("_IN_PROGRESS"):
        raise Refusal(f"the stack {stack!r} is being deployed ({status}): a new version may have no alias yet; "
                      "run make prune once the deployment has ended")


def stack_of(function: str) -> str | None:
    """The stack that made the function, from the tag CloudFormation gives it; None for a function made by hand."""
    return boto3.client("lambda").get_function(FunctionName=function).get("Tags", {}).get(STACK_TAG)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make prune", description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--stack", help="the stack whose function to prune (default: the one in samconfig.toml)")
    target.add_argument("--function", help="a function's name or ARN, instead of a stack's")
    parser.add_argument("--keep", type=int, default=1, help="unaliased versions to keep, newest first (default 1)")
    parser.add_argument("--dry-run", action="store_true", help="say what would be deleted, and delete nothing")
    args = parser.parse_args(argv)

    def pruned() -> list[str]:
        if args.keep < 0:
            raise Refusal("--keep takes a number of versions, 0 or more")
        if problem := credentials_problem():
            raise Refusal(problem)
        stack = None if args.function else stack_name(args.stack)
        function = args.function or outputs_of(stack).get("FunctionName")
        if not function:
            raise Refusal("the stack has no FunctionName output: is it this project's?")
        if stack := stack or stack_of(function):
            check_not_deploying(stack)
        return prune(function, args.keep, args.dry_run)

    lines = said_in_one_line("make prune", pruned)
    if lines is None:
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
