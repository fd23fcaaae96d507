"""Pictures a second for a catalog: `make classify` with 1 and 2 workers, against a plain loop over the handler.

    python -m benchmarks.catalog [--copies 10]

The catalog is the 20 pictures of tests/images, copied ``--copies`` times. The
plain loop is what one writes without the command: one process calling
``lambda_function.lambda_handler`` on each picture in turn (its interpreter on
every core, as the function's ``auto`` threads are outside Lambda).
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOOP = """
import base64, sys, time
import lambda_function
paths = sys.argv[1:]
started = time.perf_counter()
for path in paths:
    lambda_function.lambda_handler({"image": base64.b64encode(open(path, "rb").read()).decode()}, None)
print(len(paths) / (time.perf_counter() - started))
"""


def catalog(folder: Path, copies: int) -> list[Path]:
    for copy in range(copies):
        for picture in sorted((ROOT / "tests" / "images").glob("*.jpg")):
            (folder / f"{copy}-{picture.name}").write_bytes(picture.read_bytes())
    return sorted(folder.glob("*.jpg"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "catalog"
        folder.mkdir()
        pictures = catalog(folder, args.copies)
        loop = subprocess.run([sys.executable, "-c", LOOP, *map(str, pictures)], cwd=ROOT, capture_output=True,
                              text=True, check=True)
        print(f"{len(pictures)} pictures, pictures a second (start-up included for make classify):")
        print(f"  plain loop over lambda_handler   {float(loop.stdout.split()[-1]):6.1f}")
        for workers in (1, 2):
            out = Path(scratch) / f"results-{workers}.jsonl"
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "scripts.classify", str(folder), "--out", str(out),
                            "--workers", str(workers)], cwd=ROOT, capture_output=True, check=True)
            print(f"  make classify, {workers} worker{'s' if workers > 1 else ' '}         "
                  f"{len(pictures) / (time.perf_counter() - started):6.1f}")


if __name__ == "__main__":
    main()
