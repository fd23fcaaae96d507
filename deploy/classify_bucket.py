"""Start the deployed catalog workflow, and say where its results will be; with --wait, follow it to its end.

    python -m deploy.classify_bucket [--stack NAME] [--wait [--out results.jsonl]]

The stack is the one ``make deploy`` saved in samconfig.toml, unless ``--stack`` names another; it must have
been deployed with ``CatalogBucket`` set (docs/catalog.md). Before it starts a run it checks what AWS would
only find out late: a run that would take every instance the API has, and a results bucket in another region
than the workflow (Step Functions' ResultWriter then fails the run at its very end, after all the Lambda time
is paid). With ``--wait`` a progress bar follows the Map Run's items; ``--out`` then turns what ResultWriter
wrote into the JSON lines ``make classify`` writes, one a picture, its key as ``input``. Every mistake is one
line and exit status 2; with ``--wait``, a run that does not succeed ends with exit status 1.
"""

import argparse
import json
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import boto3
from tqdm import tqdm

from deploy.preflight import credentials_problem
from deploy.stack import Refusal, outputs_of, parameters_of, said_in_one_line, stack_name

DONE = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
# The most of the function's instances a run may take, so that the API keeps the rest: reserved concurrency
# caps the API and the catalog together.
CATALOG_SHARE = 0.8
ITEMS_DONE = ("succeeded", "failed", "timedOut", "aborted")


def catalog_of(stack: str) -> tuple[str, str]:
    """The stack's state machine and results location, from its outputs."""
    outputs = outputs_of(stack)
    if "CatalogStateMachine" not in outputs:
        raise Refusal(f"stack {stack!r} has no catalog: deploy it with CatalogBucket set (make deploy "
                      "ARGS=\"--parameter-overrides CatalogBucket=your-bucket\")")
    return outputs["CatalogStateMachine"], outputs["CatalogResults"]


def concurrency_problem(parameters: dict[str, str], lambda_client) -> str | None:
    """Why a run would starve the API, or None: the catalog's batches at once against the instances there are."""
    catalog, cap = int(parameters.get("CatalogConcurrency", 0)), int(parameters.get("MaxConcurrency", 0))
    where = "the function's"
    if cap == 0:  # uncapped: the account's unreserved concurrency is what the API and the catalog share
        cap = lambda_client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
        where = "the account's unreserved"
    allowed = max(1, math.floor(cap * CATALOG_SHARE))
    if catalog <= allowed:
        return None
    return (f"CatalogConcurrency {catalog} would take {min(catalog, cap)} of {where} {cap} instances and leave "
            f"the API {max(0, cap - catalog)}: redeploy with CatalogConcurrency at most {allowed} (make deploy "
            f"ARGS=\"--parameter-overrides CatalogConcurrency={allowed}\"), or a larger MaxConcurrency")


def bucket_region(s3, bucket: str) -> str:
    """The bucket's region, as GetBucketLocation names it (none for us-east-1, "EU" for eu-west-1)."""
    location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)


def region_problem(s3, results: str, region: str) -> str | None:
    bucket = urlparse(results).netloc
    if (where := bucket_region(s3, bucket)) == region:
        return None
    return (f"the results bucket {bucket} is in {where} and the workflow in {region}: Step Functions would fail "
            f"the run when it writes the results, after classifying everything; deploy the stack to {where}")


def map_run_of(stepfunctions, execution: str) -> str | None:
    runs = stepfunctions.list_map_runs(executionArn=execution).get("mapRuns", [])
    return runs[0]["mapRunArn"] if runs else None


def follow(stepfunctions, execution: str, poll_seconds: float) -> tuple[str, str | None]:
    """Wait for the run to end, with a progress bar of its Map Run's items; its status and Map Run."""
    map_run = None
    with tqdm(unit="picture", file=sys.stderr, desc="classified") as bar:
        while True:
            status = stepfunctions.describe_execution(executionArn=execution)["status"]
            map_run = map_run or map_run_of(stepfunctions, execution)
            if map_run:
                counts = stepfunctions.describe_map_run(mapRunArn=map_run)["itemCounts"]
                bar.total = counts["total"]
                bar.n = sum(counts[state] for state in ITEMS_DONE)
                bar.set_postfix(failed=counts["failed"] + counts["timedOut"] + counts["aborted"], refresh=False)
                bar.refresh()
            if status in DONE:
                return status, map_run
            time.sleep(poll_seconds)


def result_files(s3, results: str, map_run: str) -> list[str]:
    """The keys of the files ResultWriter wrote for ``map_run``, from its manifest: ``<prefix><run id>/
    manifest.json``, the run id being the Map Run ARN's last part (whatever slashes the prefix ends in)."""
    location = urlparse(results)
    bucket, prefix, run_id = location.netloc, location.path.lstrip("/"), map_run.rsplit(":", 1)[-1]
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    manifests = [item["Key"] for page in pages for item in page.get("Contents", [])
                 if item["Key"].rstrip("/").endswith(f"{run_id}/manifest.json")]
    if not manifests:
        raise Refusal(f"no manifest.json for the run under {results}: ResultWriter wrote nothing")
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=manifests[0])["Body"].read())
    files = manifest.get("ResultFiles", {})
    return [entry["Key"] for state in ("SUCCEEDED", "FAILED", "PENDING") for entry in files.get(state, [])]


def child_lines(child: dict) -> Iterator[dict]:
    """One line a picture from one child execution's result: the function's own results for a batch that
    succeeded, and for one that failed (after its retries), an error for each of its keys."""
    if child.get("Status") == "SUCCEEDED":
        yield from json.loads(child["Output"])["results"]
        return
    message = f"the batch failed on AWS: {child.get('Error') or child.get('Status')}"
    for item in json.loads(child.get("Input") or "{}").get("Items", []):
        key = item.get("Key") if isinstance(item, dict) else None
        yield {"input": key, "error": {"type": "BatchFailed", "message": message, "status": 502}}


def write_results(s3, results: str, map_run: str, out: Path) -> int:
    """``out`` as ``make classify`` writes it; how many lines."""
    bucket = urlparse(results).netloc
    count = 0
    with open(out, "w") as file:
        for key in result_files(s3, results, map_run):
            for child in json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read() or b"[]"):
                for line in child_lines(child):
                    file.write(json.dumps(line) + "\n")
                    count += 1
    return count


def start(stack: str, wait: bool, out: Path | None = None, poll_seconds: float = 10) -> tuple[list[str], bool]:
    """Check, start a run; the lines to print, and whether it went well (with ``wait``, whether it succeeded)."""
    state_machine, results = catalog_of(stack)
    session = boto3.session.Session()
    s3 = session.client("s3")
    for problem in (concurrency_problem(parameters_of(stack), session.client("lambda")),
                    region_problem(s3, results, session.region_name)):
        if problem:
            raise Refusal(problem)
    stepfunctions = session.client("stepfunctions")
    execution = stepfunctions.start_execution(stateMachineArn=state_machine)["executionArn"]
    lines = [f"started {execution}",
             f"results: {results}<map run id>/ (manifest.json, then SUCCEEDED_*.json and FAILED_*.json) "
             "when the run ends"]
    if not wait:
        return lines, True
    status, map_run = follow(stepfunctions, execution, poll_seconds)
    lines.append(f"ended: {status}")
    if out and map_run:
        lines.append(f"{out}: {write_results(s3, results, map_run, out)} pictures, one JSON line each")
    elif out:
        lines.append(f"{out}: not written, the run ended before its Map Run began")
    return lines, status == "SUCCEEDED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make classify-bucket", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", help="the stack's name (default: the one in samconfig.toml)")
    parser.add_argument("--wait", action="store_true", help="follow the run to its end and say how it ended")
    parser.add_argument("--out", type=Path, help="with --wait: write the results as make classify does")
    args = parser.parse_args(argv)

    def started() -> tuple[list[str], bool]:
        if args.out and not args.wait:
            raise Refusal("--out needs --wait: the results exist once the run ends")
        if problem := credentials_problem():
            raise Refusal(problem)
        try:
            return start(stack_name(args.stack), args.wait, args.out)
        except OSError as error:  # --out cannot be written
            raise Refusal(str(error)) from None

    outcome = said_in_one_line("make classify-bucket", started)
    if outcome is None:
        return 2
    lines, went_well = outcome
    print("\n".join(lines))
    return 0 if went_well else 1


if __name__ == "__main__":
    sys.exit(main())
