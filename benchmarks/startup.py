"""Where a cold start's time goes: each import and step of the function's start-up, in a fresh process.

    python -m benchmarks.startup      # after `make serve` or `make bench` has built build/task

Runs the function's task root with the emulator's Python, as the runtime does,
several times, and prints the median of each phase in milliseconds.
"""

import json
import statistics
import subprocess

from benchmarks import run
from deploy import cost
from scripts import lambda_image
from scripts.dockerfile import read_image

PHASES = """
import base64, gc, json, time
marks = [time.perf_counter()]
import awslambdaric.bootstrap; marks.append(time.perf_counter())
gc.disable()  # as lambda_function does for its own start-up
import numpy, ai_edge_litert.interpreter; marks.append(time.perf_counter())
import PIL.Image, PIL.ImageOps; marks.append(time.perf_counter())
import clothing.service, clothing.lambda_events, clothing.logs; marks.append(time.perf_counter())
import lambda_function; marks.append(time.perf_counter())  # its start-up: the model, loaded and allocated
event = {"image": base64.b64encode(open("PICTURE", "rb").read()).decode()}
lambda_function.lambda_handler(event, None); marks.append(time.perf_counter())
lambda_function.lambda_handler(event, None); marks.append(time.perf_counter())
lambda_function.service.fetcher; marks.append(time.perf_counter())  # what a first URL adds: http.client, ssl
print(json.dumps([1000 * (b - a) for a, b in zip(marks, marks[1:])]))
"""
# The function's imports and start-up with the garbage collector left on, and off as lambda_function has it.
IMPORTS = """
import gc, time
COLLECTOR
started = time.perf_counter()
import numpy, ai_edge_litert.interpreter, PIL.Image, PIL.ImageOps, lambda_function
print(1000 * (time.perf_counter() - started))
"""
# A first request after SnapStart's priming (clothing.snapstart.prime, run before the snapshot) against one after a
# plain start: what a restored instance's first caller gains. A URL, so the fetcher's loading counts too.
PRIMING = """
import time
import lambda_function
from clothing import snapstart
if PRIME:
    snapstart.prime(lambda_function.service)
started = time.perf_counter()
lambda_function.lambda_handler({"url": "URL"}, None)
print(1000 * (time.perf_counter() - started))
"""
# Where the runtime's resident memory goes, step by step, in MB: as PHASES, reading /proc/self/status.
MEMORY = """
import base64, json
def resident():
    return {line.split(":")[0]: int(line.split()[1]) / 1024 for line in open("/proc/self/status")
            if line.startswith(("VmRSS", "VmHWM"))}
steps = [("Python and the runtime client", resident())]
import awslambdaric.bootstrap, numpy, ai_edge_litert.interpreter
steps.append(("NumPy and LiteRT", resident()))
import PIL.Image, clothing.lambda_events, clothing.decoding.decode, clothing.model_input, clothing.logs
import clothing.settings
steps.append(("Pillow and the function's code", resident()))
import lambda_function
steps.append(("the model in XNNPACK (its interpreter made and allocated)", resident()))
lambda_function.lambda_handler({"image": base64.b64encode(open("PICTURE", "rb").read()).decode()}, None)
steps.append(("a 12 MP photo sent in the request (the peak)", resident()))
print(json.dumps(steps))
"""
NAMES = ["Lambda runtime client", "NumPy and LiteRT", "Pillow", "the function's code", "the model", "first request",
         "second request", "the fetcher, on a first URL"]


TASK_ROOT = lambda_image.BUILD / "task-startup"


def run_fresh(code: str, **variables: str) -> str:
    """Run ``code`` in a fresh process of the function's Python, in its task root; the last line it prints."""
    env = lambda_image.function_environment(TASK_ROOT) | {"LOG_LEVEL": "WARNING", **variables}
    python = str(lambda_image.RUNTIME_VENV / "bin" / "python")
    result = subprocess.run([python, "-c", code], cwd=TASK_ROOT, env=env,
                            capture_output=True, text=True, check=True)
    return result.stdout.strip().splitlines()[-1]


def main(runs: int = 7) -> None:
    lambda_image.build_task_root(read_image(lambda_image.DOCKERFILE), TASK_ROOT)
    lambda_image.build_runtime_venv()
    code = PHASES.replace("PICTURE", str(lambda_image.ROOT / "tests" / "images" / "pants-1.jpg"))
    samples = [json.loads(run_fresh(code)) for _ in range(runs)]
    print(f"median of {runs} fresh processes, ms:")
    for index, name in enumerate(NAMES):
        print(f"  {name:<32} {statistics.median(s[index] for s in samples):6.1f}")

    collector = {"on": [], "off": []}
    for _ in range(2 * runs):  # interleaved, so that the machine's drift hits both alike
        # left on: lambda_function's own gc.disable() is made to do nothing
        collector["on"].append(float(run_fresh(IMPORTS.replace("COLLECTOR", "gc.disable = lambda: None"))))
        collector["off"].append(float(run_fresh(IMPORTS.replace("COLLECTOR", "gc.disable()"))))
    on, off = (statistics.median(collector[state]) for state in ("on", "off"))
    print(f"the function's imports and start-up, median of {2 * runs} fresh processes each: "
          f"{on:.1f} ms with the garbage collector left on, {off:.1f} ms with it off as lambda_function does")
    cost.record_measured(init_ms=off)

    large = run.make_pictures(run.BENCH / "pictures")["12mp"]
    steps = json.loads(run_fresh(MEMORY.replace("PICTURE", str(large))))
    print("resident memory of a fresh process, MB (VmRSS after each step; the peak, VmHWM, after the request):")
    before = 0.0
    for name, memory in steps:
        now = memory["VmHWM"] if name.startswith("a 12 MP") else memory["VmRSS"]
        print(f"  {name:<58} {now:6.1f}  (+{now - before:.1f})")
        before = memory["VmRSS"]

    url = f"{run.serve_directory(lambda_image.ROOT / 'tests' / 'images')}/pants-1.jpg"
    first = {"primed": [], "plain": []}
    for _ in range(2 * runs):
        for state, prime in (("primed", "True"), ("plain", "False")):
            code = PRIMING.replace("PRIME", prime).replace("URL", url)
            first[state].append(float(run_fresh(code, ALLOW_PRIVATE_URLS="true")))
    primed, plain = (statistics.median(first[state]) for state in ("primed", "plain"))
    print(f"a first request by URL, median of {2 * runs} fresh processes each: {primed:.1f} ms after SnapStart's "
          f"priming, {plain:.1f} ms after a plain start")


if __name__ == "__main__":
    main()
