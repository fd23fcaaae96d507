"""Where a cold start's time goes: each import and step of the function's start-up, in a fresh process.

    python -m benchmarks.startup      # after `make serve` or `make bench` has built build/task

Runs the function's task root with the emulator's Python, as the runtime does,
several times, and prints the median of each phase in milliseconds.
"""

import json
import statistics
import subprocess

from scripts import serve

PHASES = """
import base64, gc, json, time
marks = [time.perf_counter()]
import awslambdaric.bootstrap; marks.append(time.perf_counter())
gc.disable()  # as lambda_function does for its own start-up
import numpy, ai_edge_litert.interpreter; marks.append(time.perf_counter())
import PIL.Image, PIL.ImageOps; marks.append(time.perf_counter())
import lambda_function; marks.append(time.perf_counter())
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
NAMES = ["Lambda runtime client", "NumPy and LiteRT", "Pillow", "the function's code and model", "first request",
         "second request", "the fetcher, on a first URL"]


TASK_ROOT = serve.BUILD / "task-startup"


def run_fresh(code: str) -> str:
    """Run ``code`` in a fresh process of the function's Python, in its task root; the last line it prints."""
    env = serve.function_environment(TASK_ROOT) | {"LOG_LEVEL": "WARNING"}
    python = str(serve.RUNTIME_VENV / "bin" / "python")
    result = subprocess.run([python, "-c", code], cwd=TASK_ROOT, env=env,
                            capture_output=True, text=True, check=True)
    return result.stdout.strip().splitlines()[-1]


def main(runs: int = 7) -> None:
    serve.build_task_root(serve.read_image(serve.DOCKERFILE), TASK_ROOT)
    serve.build_runtime_venv()
    code = PHASES.replace("PICTURE", str(serve.ROOT / "tests" / "images" / "pants-1.jpg"))
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


if __name__ == "__main__":
    main()
