"""Which Lambda memory size to choose, measured under each size's CPU share and memory limit.

    python -m benchmarks.memory [--bound-ms 200] [--runs 30]    # after `make bench` has made the pictures

For each memory size and for one and two interpreter threads, a fresh
emulator runs the function inside a cgroup with the CPU quota and memory limit
Lambda gives at that size (``scripts/limits.py``): cold start, warm p50/p95
for a typical photo and a 12-megapixel JPEG served from 127.0.0.1, the
runtime's peak memory, and the bill for a million 12-megapixel requests
(``deploy.cost``). The recommendation is the cheapest size whose 12 MP p95
stays under the bound; bills within 1% count as ties and the smallest size
wins, since time spent waiting on the image host is billed by memory too.

Records the run in benchmarks/memory.json and prints it as docs/performance.md shows it (``--render`` prints
the record again, measuring nothing).

Where cgroups cannot be written (not root, no cgroup file system), it says so
and falls back to an estimate, labelled as one: warm requests timed in-process
on one whole core with one thread and on two with two, stretched by
1,769 MB / memory below one vCPU.
"""

import argparse
import base64
import json
import os
import subprocess
import sys
import time

import numpy as np

from benchmarks.run import BENCH, ROOT, Emulator, cpu_name, make_pictures, serve_directory
from clothing.settings import LAMBDA_MB_PER_VCPU
from deploy.cost import LAMBDA_MEMORY_MB, monthly_bill, record_measured
from scripts import lambda_image, limits
from scripts.dockerfile import read_image

SIZES = [512, 768, 1024, 1536, 1769, 2048, 3008, 3538]
TIE = 0.01  # bills this close count as equal
RESULTS = ROOT / "benchmarks" / "memory.json"


def measure(task_root, urls: dict[str, str], memory: int, threads: int, runs: int) -> dict:
    """One fresh emulator under ``memory``'s limits with ``threads`` interpreter threads."""
    emulator = Emulator(task_root, memory_mb=memory, threads=threads)
    try:
        emulator.invoke({"url": urls["typical"]})
        result = {"cold": 1000 * (time.perf_counter() - emulator.started)}
        for kind, url in urls.items():
            for _ in range(3):
                emulator.invoke({"url": url})
            times = [1000 * emulator.invoke({"url": url}) for _ in range(runs)]
            result[kind] = {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95))}
        result["peak_mb"] = emulator.peak_memory_mb()
        return result
    finally:
        emulator.stop()


def measure_here(runs: int) -> dict:
    """p95 in ms of warm in-process requests for each bench picture, with this process's CPUs (the estimate)."""
    import lambda_function

    results = {}
    for name in ("typical", "12mp"):
        event = {"image": base64.b64encode((BENCH / "pictures" / f"{name}.jpg").read_bytes()).decode()}
        times = []
        for number in range(runs + 3):
            started = time.perf_counter()
            lambda_function.lambda_handler(event, None)
            if number >= 3:
                times.append(1000 * (time.perf_counter() - started))
        results[name] = float(np.percentile(times, 95))
    return results


def estimate(runs: int, why: str) -> None:
    """The fallback: whole-core timings stretched to each size. An estimate, and said to be one."""
    make_pictures(BENCH / "pictures")
    timed = {}
    for cores, threads in (("0", 1), ("0,1", 2)):
        command = ["taskset", "-c", cores, sys.executable, "-m", "benchmarks.memory", "--measure-here", str(runs)]
        env = {**os.environ, "INTERPRETER_THREADS": str(threads), "LOG_LEVEL": "WARNING"}
        out = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
        timed[threads] = json.loads(out.strip().splitlines()[-1])
    print(f"ESTIMATE, not a measurement ({why}): p95 on whole cores, stretched by 1,769 MB / memory below one vCPU")
    print("| memory | typical photo p95 (estimate) | 12 MP p95 (estimate) |\n|---:|---:|---:|")
    for memory in SIZES:
        typical, large = (stretched(timed[1][kind], timed[2][kind], memory) for kind in ("typical", "12mp"))
        print(f"| {memory} MB | {typical:.0f} ms | {large:.0f} ms |")


def stretched(one: float, two: float, memory: int) -> float:
    """A duration at ``memory`` from one core's and two cores': longer in proportion below one vCPU."""
    vcpus = memory / LAMBDA_MB_PER_VCPU
    return one / vcpus if vcpus < 1 else one + (two - one) * min(1.0, vcpus - 1)


def render(record: dict) -> str:
    """The run as a table of every size and thread count, the fewest-latency threads, and the recommendation."""
    lines = [f"each size under its CPU quota and memory limit, on {record['cores']} cores of {record['cpu']}; "
             f"{record['runs']} warm requests a picture", "",
             "| memory | CPU share | threads | cold start | typical p50 / p95 | 12 MP p50 / p95 | peak memory | "
             "x86 per million (12 MP, no API, no free tier) |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    fitting, best_threads = [], {}
    for row in record["sizes"]:
        memory, threads = row["memory"], row["threads"]
        bill = monthly_bill(memory, row["12mp"]["p95"], 1_000_000, api="none", free_tier=False)
        lines.append(f"| {memory} MB | {limits.cpu_quota_us(memory) / limits.PERIOD_US:.2f} | {threads} | "
                     f"{row['cold']:.0f} ms | {row['typical']['p50']:.0f} / {row['typical']['p95']:.0f} ms | "
                     f"{row['12mp']['p50']:.0f} / {row['12mp']['p95']:.0f} ms | {row['peak_mb']:.0f} MB | "
                     f"${bill.total:.2f} |")
        if row["12mp"]["p95"] <= record["bound_ms"]:
            fitting.append((bill.total, memory, threads))
        best = best_threads.get(memory)
        if best is None or row["typical"]["p95"] < best[1]:
            best_threads[memory] = (threads, row["typical"]["p95"])
    lines += ["", "fewest-latency threads (typical photo p95) by size: "
              + ", ".join(f"{memory} MB: {threads}" for memory, (threads, _) in best_threads.items())]
    if fitting:
        cheapest = min(cost for cost, _, _ in fitting)
        memory, threads, cost = min((m, t, c) for c, m, t in fitting if c <= cheapest * (1 + TIE))
        lines.append(f"recommended: {memory} MB with {threads} thread(s), the smallest of the cheapest sizes whose "
                     f"12 MP p95 stays under {record['bound_ms']:.0f} ms (${cost:.2f} per million requests)")
    else:
        lines.append(f"no size keeps the 12 MP p95 under {record['bound_ms']:.0f} ms")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bound-ms", type=float, default=200, help="p95 bound for the 12-megapixel photo")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--render", action="store_true", help="print benchmarks/memory.json's run, measuring nothing")
    parser.add_argument("--measure-here", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_here:
        print(json.dumps(measure_here(args.measure_here)))
        return
    if args.render:
        print(render(json.loads(RESULTS.read_text())), end="")
        return
    try:
        limits.check()
    except limits.LimitsUnavailable as error:
        estimate(args.runs, str(error))
        return
    os.environ["ALLOW_PRIVATE_URLS"] = "true"  # the pictures come from 127.0.0.1
    lambda_image.build_runtime_venv()
    lambda_image.fetch_emulator()
    task_root = lambda_image.build_task_root(read_image(lambda_image.DOCKERFILE), BENCH / "task-memory")
    pictures = make_pictures(BENCH / "pictures")
    base = serve_directory(pictures["typical"].parent)
    urls = {kind: f"{base}/{path.name}" for kind, path in pictures.items()}
    record = {"cpu": cpu_name(), "cores": os.cpu_count(), "runs": args.runs, "bound_ms": args.bound_ms, "sizes": []}
    for memory in SIZES:
        for threads in (1, 2):
            print(f"measuring {memory} MB with {threads} thread(s)", flush=True)
            result = measure(task_root, urls, memory, threads, args.runs)
            record["sizes"].append({"memory": memory, "threads": threads, **result})
    RESULTS.write_text(json.dumps(record, indent=1) + "\n")
    # The template's size, with its fewest-latency thread count: make cost's default duration.
    typical = min(row["typical"]["p95"] for row in record["sizes"] if row["memory"] == LAMBDA_MEMORY_MB)
    record_measured(request_ms=typical)
    print(render(record), end="")


if __name__ == "__main__":
    main()
