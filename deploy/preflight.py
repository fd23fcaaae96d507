"""Check what a deploy needs before SAM starts, and say in one line each what is missing.

    python -m deploy.preflight            # before make deploy: a container engine and credentials
    python -m deploy.preflight destroy    # before make destroy: credentials

``sam build`` builds the image with a container engine (Docker, or Finch), and
``sam deploy`` needs AWS credentials; without them SAM fails late, with
messages about running projects locally. Exits 1 when anything is missing.
"""

import shutil
import subprocess
import sys

import boto3
import botocore.exceptions

ENGINES = ("docker", "finch")


def container_engine_problem() -> str | None:
    """None when Docker or Finch answers; otherwise what is wrong."""
    installed = [engine for engine in ENGINES if shutil.which(engine)]
    if not installed:
        return "no container engine: install and start Docker (or Finch); sam build builds the image with it"
    for engine in installed:
        try:
            if subprocess.run([engine, "info"], capture_output=True, timeout=20).returncode == 0:
                return None
        except subprocess.TimeoutExpired:
            pass
    return f"{' and '.join(installed)} installed but not running: start it, then run make deploy again"


def credentials_problem() -> str | None:
    """None when boto3 finds AWS credentials and a region; otherwise what is missing."""
    try:
        session = boto3.Session()
        credentials = session.get_credentials()
    except botocore.exceptions.BotoCoreError as error:
        return f"the AWS configuration cannot be read: {error}"
    if credentials is None:
        return "no AWS credentials: run 'aws configure' (or set AWS_PROFILE, or AWS_ACCESS_KEY_ID and its secret)"
    if not session.region_name:
        return "no AWS region: run 'aws configure' (or set AWS_DEFAULT_REGION)"
    return None


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    target = arguments[0] if arguments else "deploy"
    checks = (credentials_problem,) if target == "destroy" else (container_engine_problem, credentials_problem)
    problems = [p for p in (check() for check in checks) if p]
    for problem in problems:
        print(f"make {target}: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
