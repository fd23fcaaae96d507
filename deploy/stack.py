"""The deployed stack that the commands after ``make deploy`` work on: its name and its outputs."""

import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import boto3
import botocore.exceptions

SAMCONFIG = Path(__file__).resolve().parent.parent / "samconfig.toml"


class Refusal(Exception):
    """What the user must change, in one line."""


T = TypeVar("T")


def said_in_one_line(command: str, work: Callable[[], T]) -> T | None:
    """``work``'s result; or None, once ``command`` has said in one line why it could not do it: a refusal,
    AWS out of reach, or AWS refusing. A user's mistake never ends in a traceback."""
    try:
        return work()
    except Refusal as refusal:
        print(f"{command}: {refusal}", file=sys.stderr)
    except botocore.exceptions.BotoCoreError as error:  # no network, an endpoint that does not answer
        print(f"{command}: AWS cannot be reached: {error}", file=sys.stderr)
    except botocore.exceptions.ClientError as error:
        print(f"{command}: AWS refused: {error.response['Error'].get('Message', error)}", file=sys.stderr)
    return None


def saved_stack_name(samconfig: Path = SAMCONFIG) -> str | None:
    """The stack name ``sam deploy --guided`` saved, if it did."""
    if not samconfig.exists():
        return None
    settings = tomllib.loads(samconfig.read_text())
    return settings.get("default", {}).get("deploy", {}).get("parameters", {}).get("stack_name")


def stack_name(given: str | None) -> str:
    """``given``, else the saved one, else a refusal that says what to do."""
    if name := given or saved_stack_name():
        return name
    raise Refusal("no stack name: run make deploy first, or pass ARGS=\"--stack your-stack\"")


def described(stack: str) -> dict:
    try:
        return boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    except botocore.exceptions.ClientError as error:
        raise Refusal(f"no stack {stack!r} in this account and region ({error.response['Error']['Code']})") \
            from None


def outputs_of(stack: str) -> dict[str, str]:
    return {output["OutputKey"]: output["OutputValue"] for output in described(stack).get("Outputs", [])}


def parameters_of(stack: str) -> dict[str, str]:
    """The values the stack was deployed with."""
    return {p["ParameterKey"]: p.get("ResolvedValue", p.get("ParameterValue", ""))
            for p in described(stack).get("Parameters", [])}
