"""What both frameworks' conversion tests share, importing neither: the command, and the function serving its result.

TensorFlow and PyTorch cannot share a process (each brings its own LLVM, and loading both crashes), so the
Keras and the PyTorch tests run in separate pytest processes and share only this.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PICTURES = sorted((ROOT / "tests" / "images").glob("*.jpg"))


def run_convert(*arguments) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "conversion.convert", *map(str, arguments)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


SERVE = """
import base64, json, sys
import lambda_function
answers = [lambda_function.lambda_handler({"image": base64.b64encode(open(p, "rb").read()).decode()}, None)
           for p in sys.argv[1:]]
print(json.dumps(answers))
"""


def served(model_path, pictures=PICTURES) -> list[dict]:
    """The function's answers for ``pictures``, from a fresh process serving ``model_path``."""
    env = {"PATH": os.environ["PATH"], "MODEL_PATH": str(model_path)}
    result = subprocess.run([sys.executable, "-c", SERVE, *map(str, pictures)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])
