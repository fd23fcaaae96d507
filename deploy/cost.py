"""What a month of classifications costs on Lambda and API Gateway, and the same month on Google and Azure.

    python -m deploy.cost --memory 1769 --duration-ms 2000 --requests 1000000 [--api rest|http|none]
    make cost ARGS="--memory 1769 --api http"      (make cost ARGS=--help lists every option)
    make cost ARGS="--catalog 1000000 --duration-ms 60"   a catalog: the API against Step Functions
    make cost ARGS="--cold-starts 20000 --init-ms 1500"   Graviton and SnapStart for that traffic

Counts what the course's arithmetic left out: the per-request charge, API
Gateway's price per call, and the free tier. Billed duration is rounded up
to the millisecond. Every Lambda price can be overridden by a flag.

Then the same requests at the same duration on each platform, each sized as
docs/platforms.md's deploy commands size it, at about one vCPU: Lambda at 1,769 MB
behind API Gateway, a Google Cloud Run function with 1 vCPU and 1 GiB, an
Azure Flex Consumption instance of 2,048 MB. Each is billed by its own rules:
Google rounds each request up to 100 ms and charges CPU and memory apart;
Azure bills at least 1,000 ms an execution (when executions do not overlap on
an instance, as here, one request at a time).
"""

import argparse
import math
from dataclasses import dataclass

# US East (N. Virginia) list prices, from https://aws.amazon.com/lambda/pricing/ and
# https://aws.amazon.com/api-gateway/pricing/ (as listed 2026-11-25; the first pricing tier).
PRICE_PER_GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
PRICE_PER_MILLION_REQUESTS = 0.20
PRICE_PER_MILLION_API_CALLS = {"rest": 3.50, "http": 1.00, "none": 0.0}
# Lambda's free tier is monthly and does not expire; API Gateway's lasts 12 months, so it is left out.
FREE_GB_SECONDS = 400_000
FREE_REQUESTS = 1_000_000

# SnapStart (Python), US East, from https://aws.amazon.com/lambda/pricing/ (as listed 2026-12-02): a cache charge
# for each published version with SnapStart, per GB-second while it exists (a month of 30 days here), and a
# restore charge per GB each time an instance is restored. The restore's own duration is billed as the init it
# replaces is: a container image's init is billed. Provisioned concurrency, the other way to keep cold starts
# off the requests, per GB-second provisioned.
SNAPSTART_CACHE_PER_GB_SECOND = 0.0000015046
SNAPSTART_RESTORE_PER_GB = 0.0001397998
PROVISIONED_PER_GB_SECOND = {"x86_64": 0.0000041667, "arm64": 0.0000033334}
MONTH_SECONDS = 30 * 24 * 3600
# What a restore takes is not published by AWS and cannot be measured here: 500 ms is a round assumption, to be
# replaced by the Restore Duration of your REPORT lines (docs/deploy.md). The init is the function's own start-up
# as `python -m benchmarks.startup` measures it (126 ms), rounded up; on Lambda, the image's first pull adds to it.
ASSUMED_RESTORE_MS = 500
MEASURED_INIT_MS = 130

# Google Cloud Run functions (Cloud Functions 2nd gen), request-based billing, tier 1 regions (us-central1),
# from https://cloud.google.com/run/pricing (as listed in 2025; the free tier is monthly, per billing account).
GOOGLE_PRICE_PER_VCPU_SECOND = 0.000024
GOOGLE_PRICE_PER_GIB_SECOND = 0.0000025
GOOGLE_PRICE_PER_MILLION_REQUESTS = 0.40
GOOGLE_FREE_VCPU_SECONDS = 180_000
GOOGLE_FREE_GIB_SECONDS = 360_000
GOOGLE_FREE_REQUESTS = 2_000_000
GOOGLE_BILLING_STEP_MS = 100

# Azure Functions Flex Consumption, on-demand mode, East US, from
# https://azure.microsoft.com/pricing/details/functions/ and
# https://learn.microsoft.com/azure/azure-functions/functions-consumption-costs (as listed in 2025).
AZURE_PRICE_PER_GB_SECOND = 0.000026
AZURE_PRICE_PER_MILLION_EXECUTIONS = 0.40
AZURE_FREE_GB_SECONDS = 100_000
AZURE_FREE_EXECUTIONS = 250_000
AZURE_MINIMUM_MS = 1000

# A catalog on Step Functions' Distributed Map (template.yaml's CatalogStateMachine), US East list prices from
# https://aws.amazon.com/step-functions/pricing/ and https://aws.amazon.com/s3/pricing/ (as listed 2026-12-02).
# Each child workflow the map starts is one state transition of the Standard parent; each child is an Express
# execution, billed per request and per GB-second of 64 MB chunks, its duration rounded up to 100 ms.
STANDARD_PRICE_PER_TRANSITION = 0.000025
EXPRESS_PRICE_PER_MILLION_REQUESTS = 1.00
EXPRESS_PRICE_PER_GB_SECOND = 0.00001667
EXPRESS_MEMORY_GB = 64 / 1024  # a batch of keys and its results fit the first 64 MB chunk
EXPRESS_STEP_MS = 100
PARENT_TRANSITIONS = 4  # start, the map state, its end, the execution's end: a rounding error beside the rest
S3_PRICE_PER_THOUSAND_GETS = 0.0004
S3_PRICE_PER_THOUSAND_LISTS = 0.005  # a LIST returns up to 1,000 keys
S3_PRICE_PER_THOUSAND_PUTS = 0.005
RESULT_FILES_PER_RUN = 3  # manifest.json, SUCCEEDED_0.json, FAILED_0.json, about; each up to 5 GB

# Each platform at about one vCPU, as docs/platforms.md's deploy commands size it.
LAMBDA_MEMORY_MB = 1769
GOOGLE_VCPUS, GOOGLE_MEMORY_GIB = 1, 1
AZURE_MEMORY_MB = 2048


@dataclass(frozen=True)
class Bill:
    compute: float
    requests: float
    api: float

    @property
    def total(self) -> float:
        return self.compute + self.requests + self.api


def monthly_bill(memory_mb: int, duration_ms: float, requests: int, architecture: str = "x86_64",
                 api: str = "rest", free_tier: bool = True, price_per_gb_second: float | None = None,
                 price_per_million_requests: float = PRICE_PER_MILLION_REQUESTS,
                 price_per_million_api_calls: float | None = None) -> Bill:
    gb_seconds = requests * math.ceil(duration_ms) / 1000 * memory_mb / 1024
    billable_requests = requests
    if free_tier:
        gb_seconds = max(0.0, gb_seconds - FREE_GB_SECONDS)
        billable_requests = max(0, requests - FREE_REQUESTS)
    gb_price = PRICE_PER_GB_SECOND[architecture] if price_per_gb_second is None else price_per_gb_second
    api_price = PRICE_PER_MILLION_API_CALLS[api] if price_per_million_api_calls is None else price_per_million_api_calls
    return Bill(
        compute=gb_seconds * gb_price,
        requests=billable_requests / 1e6 * price_per_million_requests,
        api=requests / 1e6 * api_price,
    )


@dataclass(frozen=True)
class StartBill:
    """A month's charges that depend on how instances start: the billed init or restore, and SnapStart's own."""

    starts: float
    cache: float
    restores: float

    @property
    def total(self) -> float:
        return self.starts + self.cache + self.restores


def start_bill(memory_mb: int, cold_starts: int, architecture: str = "x86_64", snapstart: bool = False,
               init_ms: float = MEASURED_INIT_MS, restore_ms: float = ASSUMED_RESTORE_MS) -> StartBill:
    """One published version with SnapStart, or none."""
    gb = memory_mb / 1024
    start_ms = restore_ms if snapstart else init_ms
    return StartBill(
        starts=cold_starts * math.ceil(start_ms) / 1000 * gb * PRICE_PER_GB_SECOND[architecture],
        cache=gb * MONTH_SECONDS * SNAPSTART_CACHE_PER_GB_SECOND if snapstart else 0.0,
        restores=cold_starts * gb * SNAPSTART_RESTORE_PER_GB if snapstart else 0.0,
    )


def snapstart_break_even(memory_mb: int, architecture: str = "x86_64", init_ms: float = MEASURED_INIT_MS,
                         restore_ms: float = ASSUMED_RESTORE_MS) -> tuple[float, float]:
    """The init, in ms over a restore, above which SnapStart costs less than it saves; and the cold starts a
    month above which one provisioned instance kept warm costs less than SnapStart (inf where never)."""
    gb = memory_mb / 1024
    paying_init_ms = restore_ms + 1000 * SNAPSTART_RESTORE_PER_GB / PRICE_PER_GB_SECOND[architecture]
    with_snapstart, without = (start_bill(memory_mb, 1, architecture, on, init_ms, restore_ms) for on in (True, False))
    per_start = with_snapstart.restores + with_snapstart.starts - without.starts
    provisioned = gb * MONTH_SECONDS * PROVISIONED_PER_GB_SECOND[architecture]
    cache = start_bill(memory_mb, 0, architecture, True).cache
    return paying_init_ms, (provisioned - cache) / per_start if per_start > 0 else math.inf


def google_bill(duration_ms: float, requests: int, vcpus: float = GOOGLE_VCPUS,
                memory_gib: float = GOOGLE_MEMORY_GIB, free_tier: bool = True) -> Bill:
    """A month on a Cloud Run function: CPU and memory by the 100 ms step, plus requests; HTTPS comes free."""
    seconds = requests * math.ceil(duration_ms / GOOGLE_BILLING_STEP_MS) * GOOGLE_BILLING_STEP_MS / 1000
    vcpu_seconds, gib_seconds, billable_requests = seconds * vcpus, seconds * memory_gib, requests
    if free_tier:
        vcpu_seconds = max(0.0, vcpu_seconds - GOOGLE_FREE_VCPU_SECONDS)
        gib_seconds = max(0.0, gib_seconds - GOOGLE_FREE_GIB_SECONDS)
        billable_requests = max(0, requests - GOOGLE_FREE_REQUESTS)
    return Bill(compute=vcpu_seconds * GOOGLE_PRICE_PER_VCPU_SECOND + gib_seconds * GOOGLE_PRICE_PER_GIB_SECOND,
                requests=billable_requests / 1e6 * GOOGLE_PRICE_PER_MILLION_REQUESTS, api=0.0)


def azure_bill(duration_ms: float, requests: int, memory_mb: int = AZURE_MEMORY_MB, free_tier: bool = True) -> Bill:
    """A month on Flex Consumption, one request at a time: memory for at least 1 s an execution; HTTPS comes free."""
    gb_seconds = requests * max(math.ceil(duration_ms), AZURE_MINIMUM_MS) / 1000 * memory_mb / 1024
    billable = requests
    if free_tier:
        gb_seconds = max(0.0, gb_seconds - AZURE_FREE_GB_SECONDS)
        billable = max(0, requests - AZURE_FREE_EXECUTIONS)
    return Bill(compute=gb_seconds * AZURE_PRICE_PER_GB_SECOND,
                requests=billable / 1e6 * AZURE_PRICE_PER_MILLION_EXECUTIONS, api=0.0)


API_NAMES = {"rest": " + API Gateway (REST)", "http": " + API Gateway (HTTP)", "none": ", no API"}


def platform_bills(duration_ms: float, requests: int, free_tier: bool = True, api: str = "rest") -> dict[str, Bill]:
    """The same month on each platform, each at about one vCPU; Lambda behind the API named."""
    return {
        f"AWS Lambda {LAMBDA_MEMORY_MB} MB{API_NAMES[api]}": monthly_bill(
            LAMBDA_MEMORY_MB, duration_ms, requests, api=api, free_tier=free_tier),
        f"Google Cloud Run function, {GOOGLE_VCPUS} vCPU, {GOOGLE_MEMORY_GIB} GiB": google_bill(
            duration_ms, requests, free_tier=free_tier),
        f"Azure Flex Consumption, {AZURE_MEMORY_MB} MB": azure_bill(duration_ms, requests, free_tier=free_tier),
    }


@dataclass(frozen=True)
class CatalogBill:
    lambda_: float
    step_functions: float
    s3: float
    api: float

    @property
    def total(self) -> float:
        return self.lambda_ + self.step_functions + self.s3 + self.api


def catalog_bills(pictures: int, duration_ms: float, memory_mb: int = LAMBDA_MEMORY_MB, batch_size: int = 20,
                  api: str = "rest", architecture: str = "x86_64") -> dict[str, CatalogBill]:
    """One catalog, free tiers aside (they belong to the month, not to the job), classified either way:
    a request each through the API (the pictures fetched by URL), or batches of keys on the Distributed Map."""
    one_by_one = monthly_bill(memory_mb, duration_ms, pictures, architecture, api, free_tier=False)
    batches = math.ceil(pictures / batch_size)
    batch_ms = math.ceil(duration_ms * batch_size)
    lambda_bill = monthly_bill(memory_mb, duration_ms * pictures / batches, batches, architecture, "none",
                               free_tier=False)
    child_seconds = math.ceil(batch_ms / EXPRESS_STEP_MS) * EXPRESS_STEP_MS / 1000
    step_functions = ((batches + PARENT_TRANSITIONS) * STANDARD_PRICE_PER_TRANSITION
                      + batches / 1e6 * EXPRESS_PRICE_PER_MILLION_REQUESTS
                      + batches * child_seconds * EXPRESS_MEMORY_GB * EXPRESS_PRICE_PER_GB_SECOND)
    s3 = (pictures / 1000 * S3_PRICE_PER_THOUSAND_GETS + math.ceil(pictures / 1000) / 1000 * S3_PRICE_PER_THOUSAND_LISTS
          + RESULT_FILES_PER_RUN / 1000 * S3_PRICE_PER_THOUSAND_PUTS)
    return {
        f"a request each{API_NAMES[api]}, by URL": CatalogBill(one_by_one.compute + one_by_one.requests, 0.0, 0.0,
                                                       one_by_one.api),
        f"Distributed Map, batches of {batch_size}": CatalogBill(lambda_bill.total, step_functions, s3, 0.0),
    }


def print_catalog(pictures: int, duration_ms: float, memory_mb: int, batch_size: int, api: str) -> None:
    print(f"A catalog of {pictures:,} pictures at {duration_ms:g} ms each, {memory_mb} MB x86_64, free tiers "
          "aside (list prices as deploy/cost.py dates them)")
    print("| path | Lambda | Step Functions | S3 | API Gateway | total | per 1,000 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, bill in catalog_bills(pictures, duration_ms, memory_mb, batch_size, api).items():
        print(f"| {name} | ${bill.lambda_:,.2f} | ${bill.step_functions:,.2f} | ${bill.s3:,.2f} | ${bill.api:,.2f} "
              f"| ${bill.total:,.2f} | ${bill.total / pictures * 1000:.4f} |")


def print_starts(memory: int, duration: float, args: argparse.Namespace) -> None:
    """The month on x86 and Graviton, with and without SnapStart, and when SnapStart pays."""
    cold_starts = args.requests // 1000 if args.cold_starts is None else args.cold_starts
    print(f"\nGraviton and SnapStart at {memory} MB and {duration:g} ms, {cold_starts:,} cold starts a month "
          f"(init {args.init_ms:g} ms, restore {args.restore_ms:g} ms assumed)")
    print("| arch | SnapStart | compute, requests, API | billed init or restore | snapshot cache | restores | total |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for arch in ("x86_64", "arm64"):
        bill = monthly_bill(memory, duration, args.requests, arch, args.api, args.free_tier,
                            price_per_million_requests=args.price_million_requests,
                            price_per_million_api_calls=args.price_million_api_calls)
        for snapstart in (False, True):
            starts = start_bill(memory, cold_starts, arch, snapstart, args.init_ms, args.restore_ms)
            print(f"| {arch} | {'on' if snapstart else 'off'} | ${bill.total:,.2f} | ${starts.starts:,.2f} | "
                  f"${starts.cache:,.2f} | ${starts.restores:,.2f} | ${bill.total + starts.total:,.2f} |")
    paying_init, provisioned_above = snapstart_break_even(memory, "x86_64", args.init_ms, args.restore_ms)
    print(f"SnapStart saves money only where an init takes over {paying_init / 1000:.1f} s (a restore plus what "
          f"the restore charge buys): as a latency lever, it costs less than one provisioned instance kept warm "
          f"up to {provisioned_above:,.0f} cold starts a month.")


def amounts(bill: Bill, requests: int) -> str:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memory", type=bounded(int, 128, 10_240, allowed="whole MB from 128 to 10,240"),
                        nargs="+", default=[LAMBDA_MEMORY_MB],
                        help="MB, 128 to 10,240; several give several rows (default: the template's 1,769)")
    parser.add_argument("--duration-ms", nargs="+",
                        type=bounded(float, 0, 900_000, allowed="0 to 900,000 ms (Lambda's 15 minutes)"),
                        default=[2000], help="billed duration per request; one, or one per --memory")
    parser.add_argument("--requests", type=bounded(int, 1, allowed="a whole number, at least 1"),
                        default=1_000_000, help="per month, at least 1")
    parser.add_argument("--api", choices=sorted(PRICE_PER_MILLION_API_CALLS), default="rest")
    parser.add_argument("--no-free-tier", dest="free_tier", action="store_false")
    price = bounded(float, 0, allowed="a price, at least 0")
    parser.add_argument("--price-gb-second-x86", type=price, default=PRICE_PER_GB_SECOND["x86_64"])
    parser.add_argument("--price-gb-second-arm", type=price, default=PRICE_PER_GB_SECOND["arm64"])
    parser.add_argument("--price-million-requests", type=price, default=PRICE_PER_MILLION_REQUESTS)
    parser.add_argument("--price-million-api-calls", type=price, default=None)
    parser.add_argument("--cold-starts", type=bounded(int, 0, allowed="a whole number, at least 0"),
                        default=None, help="new instances a month, for the Graviton and SnapStart table "
                                           "(default: 1 in 1,000 requests)")
    parser.add_argument("--init-ms", type=bounded(float, 0, 600_000, allowed="0 to 600,000 ms"),
                        default=MEASURED_INIT_MS, help="a cold start's Init Duration (default: as measured here)")
    parser.add_argument("--restore-ms", type=bounded(float, 0, 600_000, allowed="0 to 600,000 ms"),
                        default=ASSUMED_RESTORE_MS, help="a SnapStart restore's Restore Duration (default: assumed)")
    parser.add_argument("--catalog", type=bounded(int, 1, allowed="a whole number of pictures, at least 1"),
                        help="price one catalog of this many pictures instead: the API against the Distributed Map")
    parser.add_argument("--batch-size", type=bounded(int, 1, 100, allowed="1 to 100, as CatalogBatchSize"),
                        default=20, help="pictures per invocation on the Distributed Map (default 20)")
    args = parser.parse_args()
    durations = args.duration_ms * len(args.memory) if len(args.duration_ms) == 1 else args.duration_ms
    if len(durations) != len(args.memory):
        parser.error("give one --duration-ms, or one per --memory")
    if args.catalog:
        print_catalog(args.catalog, durations[0], args.memory[0], args.batch_size, args.api)
        return
    print(f"{args.requests:,} requests a month, {args.api} API, free tier {'on' if args.free_tier else 'off'}")
    print("| memory | duration | arch | compute | requests | API Gateway | total | per 1,000 |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    for memory, duration in zip(args.memory, durations, strict=True):
        for arch, price in (("x86_64", args.price_gb_second_x86), ("arm64", args.price_gb_second_arm)):
            bill = monthly_bill(memory, duration, args.requests, arch, args.api, args.free_tier, price,
                                args.price_million_requests, args.price_million_api_calls)
            print(f"| {memory} MB | {duration:g} ms | {arch} | {amounts(bill, args.requests)} |")
    print_starts(args.memory[0], durations[0], args)
    print(f"\nThe same {args.requests:,} requests on each platform, at about one vCPU "
          f"(list prices as deploy/cost.py dates them)")
    print("| platform | duration | compute | requests | API Gateway | total | per 1,000 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for duration in dict.fromkeys(durations):
        for name, bill in platform_bills(duration, args.requests, args.free_tier, args.api).items():
            print(f"| {name} | {duration:g} ms | {amounts(bill, args.requests)} |")


if __name__ == "__main__":
    main()
