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
import http.client, ipaddress, socket, ssl; marks.append(time.perf_counter())
import keras_image_helper; marks.append(time.perf_counter())
import lambda_function; marks.append(time.perf_counter())
event = {"image": base64.b64encode(open("PICTURE", "rb").read()).decode()}
lambda_function.lambda_handler(event, None); marks.append(time.perf_counter())
lambda_function.lambda_handler(event, None); marks.append(time.perf_counter())
print(json.dumps([1000 * (b - a) for a, b in zip(marks, marks[1:])]))
"""
NAMES = ["Lambda runtime client", "NumPy and LiteRT", "Pillow", "http.client, ssl, ipaddress", "keras-image-helper",
         "the function's code and model", "first request", "second request"]


def main(runs: int = 7) -> None:
    task = serve.build_task_root()
    python = str(serve.build_runtime_venv() / "bin" / "python")
    code = PHASES.replace("PICTURE", str(serve.ROOT / "tests" / "images" / "pants-1.jpg"))
    samples = []
    for _ in range(runs):
        env = serve.function_environment() | {"LOG_LEVEL": "WARNING"}
        result = subprocess.run([python, "-c", code], cwd=task, env=env, capture_output=True, text=True, check=True)
        samples.append(json.loads(result.stdout.strip().splitlines()[-1]))
    print(f"median of {runs} fresh processes, ms:")
    for index, name in enumerate(NAMES):
        print(f"  {name:<32} {statistics.median(s[index] for s in samples):6.1f}")


if __name__ == "__main__":
    main()
