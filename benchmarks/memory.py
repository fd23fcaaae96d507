"""Which Lambda memory size to choose: estimated durations and the bill for each, from measured times.

    python -m benchmarks.memory [--bound-ms 300]    # after `make bench` has made the pictures

Lambda gives a function CPU in proportion to its memory: one full vCPU at
1,769 MB, two at 3,538 MB. This measures warm requests in-process on one core
with one interpreter thread, and on two cores with two, then estimates the
duration at each memory size (CPU-bound work stretches by 1,769 MB / memory
below one vCPU) and prices a million requests with deploy.cost. The
recommendation is the cheapest size whose estimated p95 for the 12-megapixel
photo stays under the bound. Below one vCPU the compute bill hardly moves with
memory, so sizes within 1% of the cheapest count as ties, and the smallest of
them wins: time spent waiting on the image host is billed by memory size too.
Estimates, not Lambda measurements: check them against the REPORT lines of a
deployed function.
"""

import argparse
import base64
import json
import os
import subprocess
import sys
import time

import numpy as np

from benchmarks.run import BENCH, ROOT
from deploy.cost import monthly_bill

ONE_VCPU_MB = 1769
SIZES = [512, 768, 1024, 1536, 1769, 2048, 3008, 3538]
TIE = 0.01  # bills this close count as equal


def measure_here(runs: int) -> dict:
    """p50 and p95 in ms of warm in-process requests for each bench picture, with this process's CPUs."""
    import lambda_function

    results = {}
    for name in ("typical", "12mp"):
        event = {"image": base64.b64encode((BENCH / "pictures" / f"{name}.jpg").read_bytes()).decode()}
        for _ in range(3):
            lambda_function.lambda_handler(event, None)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            lambda_function.lambda_handler(event, None)
            times.append(1000 * (time.perf_counter() - started))
        results[name] = {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95))}
    return results


def measure(cores: str, threads: int, runs: int) -> dict:
    command = ["taskset", "-c", cores, sys.executable, "-m", "benchmarks.memory", "--measure-here", str(runs)]
    env = {**os.environ, "INTERPRETER_THREADS": str(threads), "LOG_LEVEL": "WARNING"}
    out = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def estimate(one: float, two: float, memory: int) -> float:
    """Duration at ``memory``: stretched below one vCPU, interpolated between one and two."""
    if memory <= ONE_VCPU_MB:
        return one * ONE_VCPU_MB / memory
    share = min(1.0, (memory - ONE_VCPU_MB) / ONE_VCPU_MB)
    return one + (two - one) * share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bound-ms", type=float, default=200, help="p95 bound for the 12-megapixel photo")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--measure-here", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_here:
        print(json.dumps(measure_here(args.measure_here)))
        return
    one, two = measure("0", 1, args.runs), measure("0,1", 2, args.runs)
    print(f"measured, 1 core: typical p95 {one['typical']['p95']:.0f} ms, 12 MP p95 {one['12mp']['p95']:.0f} ms; "
          f"2 cores: typical p95 {two['typical']['p95']:.0f} ms, 12 MP p95 {two['12mp']['p95']:.0f} ms")
    print("| memory | typical photo p95 | 12 MP p95 | x86 per million (12 MP, no API, no free tier) |")
    print("|---:|---:|---:|---:|")
    fitting = []
    for memory in SIZES:
        typical = estimate(one["typical"]["p95"], two["typical"]["p95"], memory)
        large = estimate(one["12mp"]["p95"], two["12mp"]["p95"], memory)
        bill = monthly_bill(memory, large, 1_000_000, api="none", free_tier=False)
        print(f"| {memory} MB | {typical:.0f} ms | {large:.0f} ms | ${bill.total:.2f} |")
        if large <= args.bound_ms:
            fitting.append((bill.total, memory))
    if fitting:
        cheapest = min(cost for cost, _ in fitting)
        memory, cost = min((memory, cost) for cost, memory in fitting if cost <= cheapest * (1 + TIE))
        print(f"recommended: {memory} MB, the smallest of the cheapest sizes whose estimated 12 MP p95 stays under "
              f"{args.bound_ms:.0f} ms (${cost:.2f} per million requests)")
    else:
        print(f"no size keeps the 12 MP p95 under {args.bound_ms:.0f} ms")


if __name__ == "__main__":
    main()
