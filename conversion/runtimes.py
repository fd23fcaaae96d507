"""Cold start and peak memory: the converted model under LiteRT against the same ``.onnx`` under ONNX Runtime.

Each run is a fresh process that imports its runtime, loads the model and
answers one picture, as a cold Lambda instance would; the medians of several
runs are reported. Run by ``make convert ... ARGS=--compare-runtimes``.
"""

import json
import statistics
import subprocess
import sys
from pathlib import Path

RUNS = 5
PROBES = {
    "LiteRT": """
from ai_edge_litert.interpreter import Interpreter
model = Interpreter(model_path=MODEL, num_threads=2)
model.allocate_tensors()
loaded = time.perf_counter()
[details] = model.get_input_details()
model.set_tensor(details["index"], np.zeros(details["shape"], np.float32))
model.invoke()
model.get_tensor(model.get_output_details()[0]["index"])
""",
    "ONNX Runtime": """
import onnxruntime
options = onnxruntime.SessionOptions()
options.intra_op_num_threads = 2
model = onnxruntime.InferenceSession(MODEL, options, providers=["CPUExecutionProvider"])
loaded = time.perf_counter()
[details] = model.get_inputs()
model.run(None, {details.name: np.zeros([side if isinstance(side, int) else 1 for side in details.shape],
                                        np.float32)})
""",
}
FRAME = """
import time
started = time.perf_counter()
import json, numpy as np
MODEL = {model!r}
{probe}
answered = time.perf_counter()
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({{"first_answer_ms": 1000 * (answered - started), "load_ms": 1000 * (loaded - started),
                  "peak_mb": peak / 1024}}))
"""


def measure(runtime: str, model: Path, runs: int = RUNS) -> dict[str, float]:
    """Median first-answer time, load time (import included) and peak memory over ``runs`` fresh processes."""
    code = FRAME.format(model=str(model), probe=PROBES[runtime])
    results = [json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                         check=True, timeout=300).stdout.strip().splitlines()[-1])
               for _ in range(runs)]
    return {key: statistics.median(result[key] for result in results) for key in results[0]}


def compare(tflite: Path, onnx_file: Path) -> dict[str, dict[str, float]]:
    return {"LiteRT": measure("LiteRT", tflite), "ONNX Runtime": measure("ONNX Runtime", onnx_file)}


def report(figures: dict[str, dict[str, float]]) -> str:
    return "\n".join(f"{runtime}: first answer {f['first_answer_ms']:.0f} ms, loaded {f['load_ms']:.0f} ms, "
                     f"peak memory {f['peak_mb']:.0f} MB (medians of {RUNS} fresh processes)"
                     for runtime, f in figures.items())
