"""Would XNNPACK's weight cache shorten the model's start? The function's way against LiteRT's other API.

    python -m experiments.weight_cache [--runs 15]

XNNPACK repacks every weight when a model is loaded (for the shipped model, float16
weights unpacked to 16.5 MB of float32). LiteRT's ``Interpreter``, which the
function uses, cannot keep that work; its ``CompiledModel`` can, in a file
(``CpuOptions.xnnpack_weight_cache_path``) written on a first load and mapped on
later ones. Each way starts in a fresh process with the runtime's Python, the three
interleaved, and the first answer is checked equal to the Interpreter's. Prints the
median of each step in milliseconds and the median peak resident memory.
"""

import argparse
import json
import statistics
import subprocess
import tempfile
from pathlib import Path

from benchmarks.run import ROOT
from scripts import lambda_image

START = """
import json, sys, time
marks = [time.perf_counter()]
import numpy as np
WAY = sys.argv[1]
if WAY == "interpreter":
    from ai_edge_litert.interpreter import Interpreter
    marks.append(time.perf_counter())
    model = Interpreter(model_path=sys.argv[2], num_threads=2)
    model.allocate_tensors()
    marks.append(time.perf_counter())
    model.set_tensor(model.get_input_details()[0]["index"], np.load(sys.argv[3]))
    model.invoke()
    scores = model.get_tensor(model.get_output_details()[0]["index"]).ravel()
else:
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.options import CpuOptions, Options
    marks.append(time.perf_counter())
    cache = sys.argv[4] if WAY == "cached" else ""
    model = CompiledModel.from_file(sys.argv[2], options=Options(cpu_options=CpuOptions(
        num_threads=2, xnnpack_weight_cache_path=cache)))
    inputs, outputs = model.create_input_buffers(0), model.create_output_buffers(0)
    marks.append(time.perf_counter())
    inputs[0].write(np.load(sys.argv[3]))
    model.run_by_index(0, inputs, outputs)
    scores = outputs[0].read(int(np.prod(outputs[0].get_tensor_details()["shape"])), np.float32)
marks.append(time.perf_counter())
peak = next(int(line.split()[1]) / 1024 for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"steps": [1000 * (b - a) for a, b in zip(marks, marks[1:])], "peak": peak,
                  "scores": [float(s) for s in scores]}))
"""
WAYS = {"interpreter": "Interpreter (the function's)", "compiled": "CompiledModel, no cache",
        "cached": "CompiledModel, weight cache mapped"}
STEPS = ["import NumPy and LiteRT", "load the model", "first answer"]


def start(way: str, picture: Path, cache: Path) -> dict:
    python = str(lambda_image.RUNTIME_VENV / "bin" / "python")
    done = subprocess.run([python, "-c", START, way, str(ROOT / "clothing_model.tflite"), str(picture), str(cache)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    lambda_image.build_runtime_venv()
    import numpy as np  # noqa: PLC0415

    from clothing.model_input import InputPreparer  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as scratch:
        picture, cache = Path(scratch) / "picture.npy", Path(scratch) / "weights.xnnpack"
        np.save(picture, InputPreparer(240).from_bytes((ROOT / "tests/images/pants-1.jpg").read_bytes()))
        written = start("cached", picture, cache)  # the first load writes the cache
        print(f"weight cache: {cache.stat().st_size / 1e6:.1f} MB, written in "
              f"{written['steps'][1]:.1f} ms of loading")
        runs = {way: [] for way in WAYS}
        for _ in range(args.runs):
            for way in WAYS:
                runs[way].append(start(way, picture, cache))
    reference = runs["interpreter"][0]["scores"]
    for way, results in runs.items():
        largest = max(abs(a - b) for result in results for a, b in zip(result["scores"], reference, strict=True))
        print(f"\n{WAYS[way]} ({args.runs} fresh processes; largest score difference from the Interpreter's "
              f"{largest:.2g}):")
        for i, step in enumerate(STEPS):
            print(f"  {step:<24} {statistics.median(r['steps'][i] for r in results):6.1f} ms")
        print(f"  {'in all':<24} {statistics.median(sum(r['steps']) for r in results):6.1f} ms, peak resident "
              f"memory {statistics.median(r['peak'] for r in results):.1f} MB")


if __name__ == "__main__":
    main()
