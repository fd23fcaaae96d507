"""Benchmark this project against the course's two designs, side by side, through the real emulator.

    make bench        # builds the course's model and the ONNX export first; a few minutes

The designs: the course's 2021 one (its TF-Lite Xception under its handler), its current one (ONNX Runtime and
keras-image-helper, serving this project's network exported to ONNX: benchmarks/course_onnx), and this project.
For each: cold start (a fresh emulator process until its first answer, timed from outside, since the emulator
starts the runtime lazily), warm latency for a typical photo and a 12-megapixel JPEG served from 127.0.0.1, the
runtime's peak resident memory, the model's size, GFLOPs, and the runtime's invoke time. Records the run in
benchmarks/results.json and writes docs/benchmark.md from it (``--render`` writes the page again from the record,
measuring nothing).
"""

import argparse
import functools
import importlib.util
import json
import os
import shutil
import signal
import statistics
import subprocess
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from clothing.settings import LAMBDA_MB_PER_VCPU
from scripts import lambda_image, limits, ports
from scripts.dockerfile import read_image

HANDLER = "lambda_function.lambda_handler"  # the course's, the floor's and ours (the Dockerfile's CMD) alike
# Without limits, the function sees this machine's cores: the memory size at which Lambda gives that many vCPUs.
WHOLE_MACHINE_MB = (os.cpu_count() or 1) * LAMBDA_MB_PER_VCPU

ROOT = lambda_image.ROOT
BENCH = ROOT / "build" / "bench"
REPORT = ROOT / "docs" / "benchmark.md"
RESULTS = ROOT / "benchmarks" / "results.json"
DESIGNS = ("course", "onnx", "ours")
INVOCATIONS = "/2015-03-31/functions/function/invocations"
# At most this times the course's 2021 design's, and this times its ONNX Runtime design's.
TARGETS = {"cold start": 0.33, "warm p50, 12 MP": 0.10, "peak memory": 0.25}
ONNX_TARGETS = dict.fromkeys(("cold start", "warm p50, 12 MP", "peak memory"), 0.5)
ONNX_MODEL = BENCH / "clothing_model.onnx"
CONVERT_PACKAGES = ROOT / "conversion" / ".venv" / "lib" / "python3.13" / "site-packages"
MODEL_FILE_LIMIT_MB = 16  # the model's own budget, whatever the course's file weighs


def cpu_name() -> str:
    return next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")), "unknown CPU")


def make_pictures(directory: Path) -> dict[str, Path]:
    """A typical phone-shared photo (about 300 KB) and a 12-megapixel camera JPEG, from a real picture."""
    directory.mkdir(parents=True, exist_ok=True)
    source = Image.open(ROOT / "tests" / "images" / "pants-1.jpg").convert("RGB")
    rng = np.random.default_rng(0)
    pictures = {}
    for name, size, quality in [("typical", (1200, 1600), 85), ("12mp", (3000, 4000), 92)]:
        pixels = np.asarray(source.resize(size, Image.Resampling.BICUBIC), dtype=np.float32)
        pixels += rng.normal(0, 6, pixels.shape)  # sensor noise, so the file sizes are a camera's
        path = directory / f"{name}.jpg"
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path, quality=quality)
        pictures[name] = path
    return pictures


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve_directory(directory: Path) -> str:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def course_task_root() -> Path:
    """The course's handler with a course-architecture model, in a task root of its own."""
    task = BENCH / "course-task"
    task.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "benchmarks" / "course" / "lambda_function.py", task)
    # The course's image pip-installs keras-image-helper beside its handler; this project's does not need it.
    helper = Path(importlib.util.find_spec("keras_image_helper").origin).parent
    shutil.copytree(helper, task / "keras_image_helper", ignore=shutil.ignore_patterns("__pycache__"),
                    dirs_exist_ok=True)
    model = BENCH / "course_xception.tflite"
    if not model.exists():
        raise SystemExit(f"{model} is missing: run `make bench`, which builds it first")
    shutil.copy(model, task / "clothing-model.tflite")
    return task


def onnx_task_root() -> Path:
    """The course's ONNX Runtime handler with this project's network in ONNX, and the packages its image installs
    (onnxruntime from the conversion environment, built for the same Python)."""
    task = BENCH / "onnx-task"
    task.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "benchmarks" / "course_onnx" / "lambda_function.py", task)
    for package in ("keras_image_helper", "onnxruntime"):
        found = importlib.util.find_spec(package)
        source = Path(found.origin).parent if found else CONVERT_PACKAGES / package
        shutil.copytree(source, task / package, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    if not ONNX_MODEL.exists():
        raise SystemExit(f"{ONNX_MODEL} is missing: run `make bench`, which exports it first")
    shutil.copy(ONNX_MODEL, task / "clothing_model.onnx")
    return task


def model_floor_task_root(model: Path) -> Path:
    """A handler that only loads ``model`` and runs it once a request (benchmarks/model_floor), with the model."""
    task = BENCH / "model-floor-task"
    task.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "benchmarks" / "model_floor" / "lambda_function.py", task)
    shutil.copy(model, task / "clothing_model.tflite")
    return task


class Emulator:
    """One fresh emulator process running a task root's handler."""

    def __init__(self, task_root: Path, memory_mb: int | None = None, threads: int | None = None):
        """With ``memory_mb``, under Lambda's limits for that size (scripts/limits.py)."""
        self.port = ports.free_port()
        command = lambda_image.emulator_command(self.port, ports.free_port(), HANDLER)
        env = lambda_image.function_environment(task_root, memory_mb or WHOLE_MACHINE_MB)
        if threads:
            env["INTERPRETER_THREADS"] = str(threads)
        self.started = time.perf_counter()
        self.process = subprocess.Popen(command, cwd=task_root, env=env, start_new_session=True,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if memory_mb:  # before the first request: the emulator starts the runtime only then
            limits.enter(memory_mb, f"clothing-bench-{self.port}", self.process.pid)
        self.url = f"http://127.0.0.1:{self.port}{INVOCATIONS}"
        ports.wait_for_port(self.port, self.process, timeout=60)

    def invoke(self, event: dict) -> float:
        """Seconds until the answer; raises on an error answer."""
        started = time.perf_counter()
        answer = requests.post(self.url, json=event, timeout=60).json()
        if "error" in answer or "errorMessage" in answer:
            raise RuntimeError(f"error answer: {answer}")
        return time.perf_counter() - started

    def peak_memory_mb(self) -> float:
        """The function runtime's peak resident memory (VmHWM), in MB."""
        return self.runtime_memory_mb("VmHWM")

    def runtime_memory_mb(self, field: str = "VmRSS") -> float:
        """A memory figure of the function's runtime process, from /proc (VmRSS: now; VmHWM: its peak), in MB."""
        tasks = Path(f"/proc/{self.process.pid}/task").iterdir()  # the emulator may start it from any thread
        [runtime] = [pid for task in tasks for pid in (task / "children").read_text().split()]
        for line in Path(f"/proc/{runtime}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no {field}")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        limits.remove(f"clothing-bench-{self.port}")


def invoke_time_ms(model: Path, threads: int = 2, runs: int = 50) -> float:
    """Median interpreter invoke time, the model alone."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model), num_threads=threads)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], np.float32))
    times = []
    for _ in range(runs + 3):
        started = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times[3:])


ONNX_INVOKE = """
import statistics, sys, time
import numpy as np, onnxruntime
session = onnxruntime.InferenceSession("clothing_model.onnx", providers=["CPUExecutionProvider"])
x = np.zeros([1, 240, 240, 3], np.float32)
times = []
for _ in range(int(sys.argv[1]) + 3):
    started = time.perf_counter()
    session.run(None, {session.get_inputs()[0].name: x})
    times.append(time.perf_counter() - started)
print(1000 * statistics.median(times[3:]))
"""


def onnx_invoke_time_ms(task_root: Path, runs: int = 20) -> float:
    """Median ONNX Runtime run time, the model alone, in the runtime the emulator gives the handler."""
    env = lambda_image.function_environment(task_root, WHOLE_MACHINE_MB)
    python = str(lambda_image.RUNTIME_VENV / "bin" / "python")
    result = subprocess.run([python, "-c", ONNX_INVOKE, str(runs)], cwd=task_root, env=env, capture_output=True,
                            text=True, check=True, timeout=300)
    return float(result.stdout.strip().splitlines()[-1])


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def cold_starts(designs: dict[str, Path], url: str, runs: int) -> dict[str, dict]:
    """Seconds from a fresh emulator process to its first answer, and the peak memory then, for each design."""
    results = {name: {"cold": [], "first memory": []} for name in designs}
    for _ in range(runs):  # interleaved, so a busy moment hurts every design alike
        for name, task in designs.items():
            emulator = Emulator(task)
            emulator.invoke({"url": url})
            results[name]["cold"].append(time.perf_counter() - emulator.started)
            results[name]["first memory"].append(emulator.peak_memory_mb())
            emulator.stop()
    return results


def measure(designs: dict[str, Path], pictures: dict[str, str], cold_runs: int, warm_runs: int) -> dict:
    floors = {"floor": ROOT / "benchmarks" / "floor", "model floor": model_floor_task_root(designs["ours"] /
                                                                                          "clothing_model.tflite")}
    results = cold_starts(designs | floors, pictures["typical"], cold_runs)
    for name, task in designs.items():
        emulator = Emulator(task)
        for kind, url in pictures.items():
            for _ in range(3):
                emulator.invoke({"url": url})
            results[name][kind] = [emulator.invoke({"url": url}) for _ in range(warm_runs)]
        results[name]["memory"] = emulator.peak_memory_mb()
        emulator.stop()
    return results


def table(results: dict, model_mb: dict[str, float], flops: dict, invoke: dict) -> str:
    rows = []

    def ratio(ours: float, base: float, target: float | None) -> str:
        verdict = f" (≤ {target}x: {'met' if ours / base <= target else 'missed'})" if target else ""
        return f"{ours / base:.2f}x{verdict}"

    def row(label, values: dict[str, float], unit, digits=0, limit=None):
        ours = values["ours"]
        cells = [f"{values[name]:.{digits}f} {unit}".strip() for name in DESIGNS]
        verdict = f"≤ {limit} {unit}: {'met' if ours <= limit else 'missed'}" if limit is not None else ""
        rows.append(f"| {label} | {' | '.join(cells)} | {ratio(ours, values['course'], TARGETS.get(label))} | "
                    f"{ratio(ours, values['onnx'], ONNX_TARGETS.get(label))} | {verdict} |")

    def each(measure) -> dict[str, float]:
        return {name: measure(results[name], name) for name in DESIGNS}

    row("cold start", each(lambda r, _: 1000 * statistics.median(r["cold"])), "ms")
    for kind, label in [("typical", "typical photo"), ("12mp", "12 MP")]:
        row(f"warm p50, {label}", each(lambda r, _, kind=kind: 1000 * percentile(r[kind], 50)), "ms", 1)
        row(f"warm p95, {label}", each(lambda r, _, kind=kind: 1000 * percentile(r[kind], 95)), "ms", 1)
    row("peak memory", each(lambda r, _: r["memory"]), "MB")
    row("model file", each(lambda _, name: model_mb[name]), "MB", 1, limit=MODEL_FILE_LIMIT_MB)
    row("GFLOPs per picture", each(lambda _, name: flops[name]), "", 2)
    row("runtime invoke, 2 threads", each(lambda _, name: invoke[name]), "ms", 1)
    header = ["| measure | course's 2021 design | course's ONNX Runtime design | this project | against 2021 | "
              "against ONNX Runtime | limit |", "|---|---:|---:|---:|---:|---:|---|"]
    return "\n".join(header + rows)


def floors_table(results: dict) -> str:
    """Cold start and the peak memory at the first answer, of the floors and of this project, against the 2021
    design's same figures: what the function adds to the least any handler of this model can take."""
    rows = [("floor: NumPy and LiteRT imported, nothing run (benchmarks/floor)", "floor"),
            ("floor: this project's model loaded as the function loads it, run once a request (benchmarks/model_floor)",
             "model floor"),
            ("this project: the picture fetched, decoded, prepared and classified", "ours")]
    course_cold = statistics.median(results["course"]["cold"])
    course_memory = statistics.median(results["course"]["first memory"])
    lines = ["| first answer of a fresh process | cold start | against 2021 | peak memory | against 2021 |",
             "|---|---:|---:|---:|---:|"]
    for label, name in rows:
        cold, memory = statistics.median(results[name]["cold"]), statistics.median(results[name]["first memory"])
        lines.append(f"| {label} | {1000 * cold:.0f} ms | {cold / course_cold:.2f}x | {memory:.0f} MB | "
                     f"{memory / course_memory:.2f}x |")
    return "\n".join(lines)


def render(record: dict) -> str:
    """docs/benchmark.md, from a run's record."""
    sizes = ", ".join(f"{kind} {kb:.0f} KB" for kind, kb in record["pictures_kb"].items())
    results = record["results"]
    return (
        f"# Benchmark: this project against the course's two designs\n\n"
        f"Measured by `make bench` on {record['cores']} cores of {record['cpu']}, in one run: "
        f"{record['cold_runs']} cold starts each (interleaved), {record['warm_runs']} warm requests per picture "
        f"({sizes}), pictures served from 127.0.0.1, every handler under the real Lambda emulator "
        f"with the same Python and NumPy. The ONNX Runtime design serves this project's network exported to ONNX "
        f"(float32); this project serves it at int8.\n\n"
        f"{table(results, record['model_mb'], record['flops'], record['invoke_ms'])}\n\n"
        "The floors under this function, in the same run: between the model's floor and this project are Pillow, "
        "the function's code, the HTTP client, and the picture's fetch, decode and resize, which "
        "`python -m benchmarks.startup` splits by phase.\n\n"
        f"{floors_table(results)}\n\n"
        "GFLOPs count multiplies and adds separately (twice the multiply-accumulates).\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold-runs", type=int, default=15)
    parser.add_argument("--warm-runs", type=int, default=30)
    parser.add_argument("--render", action="store_true",
                        help="write docs/benchmark.md again from benchmarks/results.json, measuring nothing")
    args = parser.parse_args()
    if not args.render:
        RESULTS.write_text(json.dumps(run_designs(args.cold_runs, args.warm_runs), indent=1) + "\n")
    report = render(json.loads(RESULTS.read_text()))
    print(report)
    REPORT.write_text(report)
    print(f"written to {REPORT}")


def run_designs(cold_runs: int, warm_runs: int) -> dict:
    """Every measurement of one run, as benchmarks/results.json records it."""
    os.environ["ALLOW_PRIVATE_URLS"] = "true"  # the pictures come from 127.0.0.1
    lambda_image.build_runtime_venv()
    lambda_image.fetch_emulator()
    image = read_image(lambda_image.DOCKERFILE)
    designs = {"course": course_task_root(), "onnx": onnx_task_root(),
               "ours": lambda_image.build_task_root(image, BENCH / "task")}
    models = {"course": designs["course"] / "clothing-model.tflite", "onnx": designs["onnx"] / "clothing_model.onnx",
              "ours": designs["ours"] / "clothing_model.tflite"}
    pictures = make_pictures(BENCH / "pictures")
    base = serve_directory(pictures["typical"].parent)
    urls = {kind: f"{base}/{path.name}" for kind, path in pictures.items()}
    flops = json.loads((BENCH / "flops.json").read_text())
    flops["onnx"] = flops["ours"]  # the same network
    invoke = {"course": invoke_time_ms(models["course"], runs=10), "ours": invoke_time_ms(models["ours"]),
              "onnx": onnx_invoke_time_ms(designs["onnx"])}
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "cold_runs": cold_runs, "warm_runs": warm_runs,
            "pictures_kb": {kind: path.stat().st_size / 1e3 for kind, path in pictures.items()},
            "model_mb": {name: path.stat().st_size / 1e6 for name, path in models.items()},
            "flops": {name: flops[name] for name in DESIGNS}, "invoke_ms": invoke,
            "results": measure(designs, urls, cold_runs, warm_runs)}


if __name__ == "__main__":
    main()
