"""What a month of classifications costs on Lambda and API Gateway, and the same month on Google and Azure.

    python -m deploy.cost --memory 1024 --duration-ms 2000 --requests 1000000 [--api rest|http|none]
    make cost ARGS="--memory 1769 --api http"      (make cost ARGS=--help lists every option)
    make cost ARGS="--catalog 1000000 --duration-ms 60"   a catalog: the API against Step Functions
    make cost ARGS="--cold-starts 20000 --init-ms 1500"   Graviton and SnapStart for that traffic

Counts what the course's arithmetic left out: the per-request charge, API
Gateway's price per call (an HTTP API's per 512 KB of request), and the free
tier. Billed duration is rounded up to the millisecond. The prices are in
deploy/prices.py, each with its source and date, and every one has a flag
(--price-gb-second-x86, --price-snapstart-restore-gb, ...).

Then the same requests at the same duration on each platform, each sized as
docs/platforms.md's deploy commands size it, at about one vCPU: Lambda at 1,769 MB
behind API Gateway, a Google Cloud Run function with 1 vCPU and 1 GiB, an
Azure Flex Consumption instance of 2,048 MB. Each is billed by its own rules:
Google rounds each request up to 100 ms and charges CPU and memory apart;
Azure bills at least 1,000 ms an execution (when executions do not overlap on
an instance, as here, one request at a time).
"""

import argparse
import json
import math
from dataclasses import dataclass, fields, replace
from pathlib import Path

from clothing.settings import LAMBDA_MB_PER_VCPU
from deploy.prices import (
    APIS,
    AZURE_FREE_EXECUTIONS,
    AZURE_FREE_GB_SECONDS,
    CLOUDWATCH_FREE_ALARM_METRICS,
    CLOUDWATCH_FREE_DASHBOARDS,
    CLOUDWATCH_FREE_METRICS,
    FREE_GB_SECONDS,
    FREE_REQUESTS,
    GOOGLE_FREE_GIB_SECONDS,
    GOOGLE_FREE_REQUESTS,
    GOOGLE_FREE_VCPU_SECONDS,
    PRICES,
    Prices,
)

SETTINGS = Path(__file__).resolve().parent.parent / "clothing_model.json"  # the labels, one Answers metric each
HTTP_API_STEP_KB = 512  # an HTTP API request is metered in 512 KB steps (API Gateway's pricing page)
MONTH_SECONDS = 30 * 24 * 3600
# With SnapStart, a new instance is billed for its Billed Restore Duration: loading the runtime and running the
# after-restore hooks, not the snapshot's own restore (https://docs.aws.amazon.com/lambda/latest/dg/snapstart-monitoring.html).
# AWS publishes no typical figure and none can be measured here: 100 ms is a round assumption, to be replaced by
# the Billed Restore Duration of your REPORT lines.
ASSUMED_BILLED_RESTORE_MS = 100
# This function's own figures, the defaults of make cost: its start-up (init_ms, written by
# `python -m benchmarks.startup`) and a typical photo's warm p95 at the template's memory size (request_ms,
# written by `python -m benchmarks.memory`); on Lambda, the image's first pull adds to the start-up.
MEASURED_FILE = Path(__file__).resolve().parent / "measured.json"
MEASURED = json.loads(MEASURED_FILE.read_text())
MEASURED_INIT_MS = MEASURED["init_ms"]


def record_measured(**figures: float) -> None:
    """Keep a benchmark's figures as make cost's defaults, rounded up to the millisecond."""
    MEASURED_FILE.write_text(json.dumps(MEASURED | {name: math.ceil(value) for name, value in figures.items()},
                                        indent=2) + "\n")

# What the template's monitoring makes for the API's answers (template.yaml, clothing/logs.py): seven metrics
# under the function's name and the route (Latency, ServerErrors, UpstreamErrors, ClientErrors, TopScore,
# LowConfidence, ColdStart), two of them by version too, and Answers for each label; a catalog's answers make as
# many again under their own route. Six alarms reading one metric each; one dashboard. The metrics' members and
# directives add METRIC_BYTES_PER_ANSWER to an answer's log line (tests/test_cost.py measures a real line).
SERVICE_METRICS = 9
ALARM_METRICS = 6
DASHBOARDS = 1
METRIC_BYTES_PER_ANSWER = 920

GOOGLE_BILLING_STEP_MS = 100
AZURE_MINIMUM_MS = 1000

# A catalog on Step Functions' Distributed Map (template.yaml's CatalogStateMachine). Each child workflow the map
# starts is one state transition of the Standard parent; each child is an Express execution, billed per request
# and per GB-second of 64 MB chunks, its duration rounded up to 100 ms.
EXPRESS_MEMORY_GB = 64 / 1024  # a batch of keys and its results fit the first 64 MB chunk
EXPRESS_STEP_MS = 100
PARENT_TRANSITIONS = 4  # start, the map state, its end, the execution's end: a rounding error beside the rest
KEYS_PER_LIST = 1000  # a LIST returns up to 1,000 keys
RESULT_FILES_PER_RUN = 3  # manifest.json, SUCCEEDED_0.json, FAILED_0.json, about; each up to 5 GB

# Each platform at about one vCPU, as docs/platforms.md's deploy commands size it.
LAMBDA_MEMORY_MB = LAMBDA_MB_PER_VCPU
GOOGLE_VCPUS, GOOGLE_MEMORY_GIB = 1, 1
AZURE_MEMORY_MB = 2048


@dataclass(frozen=True)
class Bill:
    """A bill's lines, one field each; its total is their sum."""

    @property
    def total(self) -> float:
        return sum(getattr(self, line.name) for line in fields(self))


@dataclass(frozen=True)
class MonthBill(Bill):
    compute: float
    requests: float
    api: float


@dataclass(frozen=True)
class StartBill(Bill):
    """A month's charges that depend on how instances start: the billed init or restore, and SnapStart's own."""

    starts: float
    cache: float
    restores: float


@dataclass(frozen=True)
class MonitoringBill(Bill):
    """The template's metrics, alarms and dashboard, and the log bytes the metrics add to the answers."""

    metrics: float
    alarms: float
    dashboard: float
    logs: float


@dataclass(frozen=True)
class CatalogBill(Bill):
    lambda_: float
    step_functions: float
    s3: float
    api: float


def api_calls(requests: int, api: str, request_kb: float) -> int:
    """What API Gateway meters: a REST call each, an HTTP API call per started 512 KB of each request."""
    return requests * max(1, math.ceil(request_kb / HTTP_API_STEP_KB)) if api == "http" else requests


def monthly_bill(memory_mb: int, duration_ms: float, requests: int, architecture: str = "x86_64",
                 api: str = "rest", free_tier: bool = True, prices: Prices = PRICES,
                 request_kb: float = 1) -> MonthBill:
    gb_seconds = requests * math.ceil(duration_ms) / 1000 * memory_mb / 1024
    billable_requests = requests
    if free_tier:
        gb_seconds = max(0.0, gb_seconds - FREE_GB_SECONDS)
        billable_requests = max(0, requests - FREE_REQUESTS)
    return MonthBill(
        compute=gb_seconds * prices.gb_second(architecture),
        requests=billable_requests / 1e6 * prices.million_requests,
        api=api_calls(requests, api, request_kb) / 1e6 * prices.million_api_calls(api),
    )


def start_bill(memory_mb: int, cold_starts: int, architecture: str = "x86_64", snapstart: bool = False,
               init_ms: float = MEASURED_INIT_MS, billed_restore_ms: float = ASSUMED_BILLED_RESTORE_MS,
               prices: Prices = PRICES) -> StartBill:
    """One published version with SnapStart (its snapshot cached all month), or none."""
    gb = memory_mb / 1024
    start_ms = billed_restore_ms if snapstart else init_ms
    return StartBill(
        starts=cold_starts * math.ceil(start_ms) / 1000 * gb * prices.gb_second(architecture),
        cache=gb * MONTH_SECONDS * prices.snapstart_cache_gb_second if snapstart else 0.0,
        restores=cold_starts * gb * prices.snapstart_restore_gb if snapstart else 0.0,
    )


def monitoring_bill(requests: int, labels: int, free_tier: bool = True, prices: Prices = PRICES) -> MonitoringBill:
    """A month of the template's monitoring; with ``free_tier``, CloudWatch's allowances as if nothing else in the
    account used them. Log ingestion is priced in full: its 5 GB a month are shared with every other log line."""
    metrics, alarms, dashboards = SERVICE_METRICS + labels, ALARM_METRICS, DASHBOARDS
    if free_tier:
        metrics = max(0, metrics - CLOUDWATCH_FREE_METRICS)
        alarms = max(0, alarms - CLOUDWATCH_FREE_ALARM_METRICS)
        dashboards = max(0, dashboards - CLOUDWATCH_FREE_DASHBOARDS)
    return MonitoringBill(metrics=metrics * prices.custom_metric_month, alarms=alarms * prices.alarm_metric_month,
                          dashboard=dashboards * prices.dashboard_month,
                          logs=requests * METRIC_BYTES_PER_ANSWER / 1e9 * prices.logs_ingested_gb)


def snapstart_break_even(memory_mb: int, architecture: str = "x86_64", init_ms: float = MEASURED_INIT_MS,
                         billed_restore_ms: float = ASSUMED_BILLED_RESTORE_MS,
                         prices: Prices = PRICES) -> tuple[float, float]:
    """The init, in ms, above which SnapStart costs less than it saves; and the cold starts a month above which
    one provisioned instance kept warm costs less than SnapStart (inf where never)."""
    gb = memory_mb / 1024
    paying_init_ms = billed_restore_ms + 1000 * prices.snapstart_restore_gb / prices.gb_second(architecture)
    with_snapstart, without = (start_bill(memory_mb, 1, architecture, on, init_ms, billed_restore_ms, prices)
                               for on in (True, False))
    per_start = with_snapstart.restores + with_snapstart.starts - without.starts
    provisioned = gb * MONTH_SECONDS * prices.provisioned_gb_second(architecture)
    return paying_init_ms, (provisioned - with_snapstart.cache) / per_start if per_start > 0 else math.inf


def google_bill(duration_ms: float, requests: int, vcpus: float = GOOGLE_VCPUS,
                memory_gib: float = GOOGLE_MEMORY_GIB, free_tier: bool = True,
                prices: Prices = PRICES) -> MonthBill:
    """A month on a Cloud Run function: CPU and memory by the 100 ms step, plus requests; HTTPS comes free."""
    seconds = requests * math.ceil(duration_ms / GOOGLE_BILLING_STEP_MS) * GOOGLE_BILLING_STEP_MS / 1000
    vcpu_seconds, gib_seconds, billable_requests = seconds * vcpus, seconds * memory_gib, requests
    if free_tier:
        vcpu_seconds = max(0.0, vcpu_seconds - GOOGLE_FREE_VCPU_SECONDS)
        gib_seconds = max(0.0, gib_seconds - GOOGLE_FREE_GIB_SECONDS)
        billable_requests = max(0, requests - GOOGLE_FREE_REQUESTS)
    return MonthBill(compute=vcpu_seconds * prices.google_vcpu_second + gib_seconds * prices.google_gib_second,
                     requests=billable_requests / 1e6 * prices.google_million_requests, api=0.0)


def azure_bill(duration_ms: float, requests: int, memory_mb: int = AZURE_MEMORY_MB, free_tier: bool = True,
               prices: Prices = PRICES) -> MonthBill:
    """A month on Flex Consumption, one request at a time: memory for at least 1 s an execution; HTTPS comes free."""
    gb_seconds = requests * max(math.ceil(duration_ms), AZURE_MINIMUM_MS) / 1000 * memory_mb / 1024
    billable = requests
    if free_tier:
        gb_seconds = max(0.0, gb_seconds - AZURE_FREE_GB_SECONDS)
        billable = max(0, requests - AZURE_FREE_EXECUTIONS)
    return MonthBill(compute=gb_seconds * prices.azure_gb_second,
                     requests=billable / 1e6 * prices.azure_million_executions, api=0.0)


API_NAMES = {"rest": " + API Gateway (REST)", "http": " + API Gateway (HTTP)", "none": ", no API"}


def platform_bills(duration_ms: float, requests: int, free_tier: bool = True, api: str = "rest",
                   prices: Prices = PRICES, request_kb: float = 1) -> dict[str, MonthBill]:
    """The same month on each platform, each at about one vCPU; Lambda behind the API named."""
    return {
        f"AWS Lambda {LAMBDA_MEMORY_MB} MB{API_NAMES[api]}": monthly_bill(
            LAMBDA_MEMORY_MB, duration_ms, requests, api=api, free_tier=free_tier, prices=prices,
            request_kb=request_kb),
        f"Google Cloud Run function, {GOOGLE_VCPUS} vCPU, {GOOGLE_MEMORY_GIB} GiB": google_bill(
            duration_ms, requests, free_tier=free_tier, prices=prices),
        f"Azure Flex Consumption, {AZURE_MEMORY_MB} MB": azure_bill(duration_ms, requests, free_tier=free_tier,
                                                                    prices=prices),
    }


def catalog_bills(pictures: int, duration_ms: float, memory_mb: int = LAMBDA_MEMORY_MB, batch_size: int = 20,
                  api: str = "rest", architecture: str = "x86_64", prices: Prices = PRICES,
                  request_kb: float = 1) -> dict[str, CatalogBill]:
    """One catalog, free tiers aside (they belong to the month, not to the job), classified either way:
    a request each through the API (the pictures fetched by URL), or batches of keys on the Distributed Map."""
    one_by_one = monthly_bill(memory_mb, duration_ms, pictures, architecture, api, False, prices, request_kb)
    batches = math.ceil(pictures / batch_size)
    batch_ms = math.ceil(duration_ms * batch_size)
    lambda_bill = monthly_bill(memory_mb, duration_ms * pictures / batches, batches, architecture, "none",
                               False, prices)
    child_seconds = math.ceil(batch_ms / EXPRESS_STEP_MS) * EXPRESS_STEP_MS / 1000
    step_functions = ((batches + PARENT_TRANSITIONS) * prices.standard_transition
                      + batches / 1e6 * prices.express_million_requests
                      + batches * child_seconds * EXPRESS_MEMORY_GB * prices.express_gb_second)
    s3 = (pictures / 1000 * prices.s3_thousand_gets
          + math.ceil(pictures / KEYS_PER_LIST) / 1000 * prices.s3_thousand_lists
          + RESULT_FILES_PER_RUN / 1000 * prices.s3_thousand_puts)
    return {
        f"a request each{API_NAMES[api]}, by URL": CatalogBill(one_by_one.compute + one_by_one.requests, 0.0, 0.0,
                                                       one_by_one.api),
        f"Distributed Map, batches of {batch_size}": CatalogBill(lambda_bill.total, step_functions, s3, 0.0),
    }


def print_catalog(args: argparse.Namespace, prices: Prices) -> None:
    pictures, duration_ms, memory_mb = args.catalog, args.duration_ms[0], args.memory[0]
    print(f"A catalog of {pictures:,} pictures at {duration_ms:g} ms each, {memory_mb} MB x86_64, free tiers "
          "aside (list prices as deploy/prices.py dates them)")
    print("| path | Lambda | Step Functions | S3 | API Gateway | total | per 1,000 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    bills = catalog_bills(pictures, duration_ms, memory_mb, args.batch_size, args.api, prices=prices,
                          request_kb=args.request_kb)
    for name, bill in bills.items():
        print(f"| {name} | ${bill.lambda_:,.2f} | ${bill.step_functions:,.2f} | ${bill.s3:,.2f} | ${bill.api:,.2f} "
              f"| ${bill.total:,.2f} | ${bill.total / pictures * 1000:.4f} |")


def print_starts(memory: int, duration: float, args: argparse.Namespace, prices: Prices) -> None:
    """The month on x86 and Graviton, with and without SnapStart, and when SnapStart pays."""
    cold_starts = args.requests // 1000 if args.cold_starts is None else args.cold_starts
    print(f"\nGraviton and SnapStart at {memory} MB and {duration:g} ms, {cold_starts:,} cold starts a month "
          f"(init {args.init_ms:g} ms, billed restore {args.billed_restore_ms:g} ms assumed)")
    print("| arch | SnapStart | compute, requests, API | billed init or restore | snapshot cache | restores | total |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for arch in ("x86_64", "arm64"):
        bill = monthly_bill(memory, duration, args.requests, arch, args.api, args.free_tier, prices, args.request_kb)
        for snapstart in (False, True):
            starts = start_bill(memory, cold_starts, arch, snapstart, args.init_ms, args.billed_restore_ms, prices)
            print(f"| {arch} | {'on' if snapstart else 'off'} | ${bill.total:,.2f} | ${starts.starts:,.2f} | "
                  f"${starts.cache:,.2f} | ${starts.restores:,.2f} | ${bill.total + starts.total:,.2f} |")
    for arch in ("x86_64", "arm64"):
        paying_init, provisioned_above = snapstart_break_even(memory, arch, args.init_ms, args.billed_restore_ms,
                                                              prices)
        print(f"On {arch}, SnapStart saves money only where an init takes over {paying_init / 1000:.1f} s (a billed "
              f"restore plus what the restore charge buys): as a latency lever, it costs less than one provisioned "
              f"instance kept warm up to {provisioned_above:,.0f} cold starts a month.")


def print_monitoring(args: argparse.Namespace, prices: Prices) -> None:
    labels = len(json.loads(SETTINGS.read_text())["labels"])
    print(f"\nThe template's monitoring for {args.requests:,} answers a month: {SERVICE_METRICS + labels} custom "
          f"metrics ({labels} labels), {ALARM_METRICS} alarm metrics, {DASHBOARDS} dashboard, "
          f"{METRIC_BYTES_PER_ANSWER} bytes of metrics in each answer's log line")
    print("| CloudWatch | metrics | alarms | dashboard | log ingestion | total |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, free in (("list price", False), ("after the free tier", True)):
        bill = monitoring_bill(args.requests, labels, free, prices)
        print(f"| {name} | ${bill.metrics:,.2f} | ${bill.alarms:,.2f} | ${bill.dashboard:,.2f} | "
              f"${bill.logs:,.2f} | ${bill.total:,.2f} |")


def amounts(bill: MonthBill, requests: int) -> str:
    """A bill's table cells: compute, requests, API Gateway, total, and the price of 1,000 requests."""
    return (f"${bill.compute:,.2f} | ${bill.requests:,.2f} | ${bill.api:,.2f} | ${bill.total:,.2f} | "
            f"${bill.total / requests * 1000:.4f}")


def bounded(kind: type, low: float, high: float = math.inf, allowed: str = ""):
    """An argparse type: a number of ``kind`` from ``low`` to ``high``, or an error that says what is allowed."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; allowed: {allowed}") from None
        if not low <= value <= high:  # NaN fails this too
            raise argparse.ArgumentTypeError(f"{text} is out of range; allowed: {allowed}")
        return value
    return parse


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memory", type=bounded(int, 128, 10_240, allowed="whole MB from 128 to 10,240"),
                        nargs="+", default=[LAMBDA_MEMORY_MB],
                        help="MB, 128 to 10,240; several give several rows (default: the template's 1,769)")
    parser.add_argument("--duration-ms", nargs="+",
                        type=bounded(float, 0, 900_000, allowed="0 to 900,000 ms (Lambda's 15 minutes)"),
                        default=[MEASURED["request_ms"]],
                        help="billed duration per request; one, or one per --memory (default: this function's "
                             "warm p95 for a typical photo at 1,769 MB, as benchmarks.memory measured it; the "
                             "course priced 2,000)")
    parser.add_argument("--requests", type=bounded(int, 1, allowed="a whole number, at least 1"),
                        default=1_000_000, help="per month, at least 1")
    parser.add_argument("--api", choices=APIS, default="rest")
    parser.add_argument("--request-kb", type=bounded(float, 0, 10_240, allowed="0 to 10,240 KB (API Gateway's "
                                                                              "10 MB payload limit)"),
                        default=1, help="the size of a request: an HTTP API meters each 512 KB as one call "
                                        "(default 1: a JSON body with a URL)")
    parser.add_argument("--no-free-tier", dest="free_tier", action="store_false")
    parser.add_argument("--cold-starts", type=bounded(int, 0, allowed="a whole number, at least 0"),
                        default=None, help="new instances a month, for the Graviton and SnapStart table "
                                           "(default: 1 in 1,000 requests)")
    parser.add_argument("--init-ms", type=bounded(float, 0, 600_000, allowed="0 to 600,000 ms"),
                        default=MEASURED_INIT_MS, help="a cold start's Init Duration (default: as measured here)")
    parser.add_argument("--billed-restore-ms", type=bounded(float, 0, 600_000, allowed="0 to 600,000 ms"),
                        default=ASSUMED_BILLED_RESTORE_MS,
                        help="a SnapStart restore's Billed Restore Duration (default: assumed)")
    parser.add_argument("--catalog", type=bounded(int, 1, allowed="a whole number of pictures, at least 1"),
                        help="price one catalog of this many pictures instead: the API against the Distributed Map")
    parser.add_argument("--batch-size", type=bounded(int, 1, 100, allowed="1 to 100, as CatalogBatchSize"),
                        default=20, help="pictures per invocation on the Distributed Map (default 20)")
    price = bounded(float, 0, allowed="a price, at least 0")
    for field in fields(Prices):
        parser.add_argument(f"--price-{field.name.replace('_', '-')}", dest=f"price_{field.name}", type=price,
                            default=field.default, help=f"(default {field.default:g}, deploy/prices.py)")
    return parser


def print_month(args: argparse.Namespace, durations: list[float], prices: Prices) -> None:
    print(f"{args.requests:,} requests a month, {args.api} API, free tier {'on' if args.free_tier else 'off'}")
    print("| memory | duration | arch | compute | requests | API Gateway | total | per 1,000 |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    for memory, duration in zip(args.memory, durations, strict=True):
        for arch in ("x86_64", "arm64"):
            bill = monthly_bill(memory, duration, args.requests, arch, args.api, args.free_tier, prices,
                                args.request_kb)
            print(f"| {memory} MB | {duration:g} ms | {arch} | {amounts(bill, args.requests)} |")


def print_platforms(args: argparse.Namespace, durations: list[float], prices: Prices) -> None:
    print(f"\nThe same {args.requests:,} requests on each platform, at about one vCPU "
          f"(list prices as deploy/prices.py dates them)")
    print("| platform | duration | compute | requests | API Gateway | total | per 1,000 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for duration in dict.fromkeys(durations):
        for name, bill in platform_bills(duration, args.requests, args.free_tier, args.api, prices,
                                         args.request_kb).items():
            print(f"| {name} | {duration:g} ms | {amounts(bill, args.requests)} |")


def main(argv: list[str] | None = None) -> None:
    args = (arguments := parser()).parse_args(argv)
    prices = replace(PRICES, **{field.name: getattr(args, f"price_{field.name}") for field in fields(Prices)})
    durations = args.duration_ms * len(args.memory) if len(args.duration_ms) == 1 else args.duration_ms
    if len(durations) != len(args.memory):
        arguments.error("give one --duration-ms, or one per --memory")
    if args.catalog:
        print_catalog(args, prices)
        return
    print_month(args, durations, prices)
    print_starts(args.memory[0], durations[0], args, prices)
    print_monitoring(args, prices)
    print_platforms(args, durations, prices)


if __name__ == "__main__":
    main()
