"""What horizontal-flip averaging costs: the model's scores for one prepared picture, with and without it.

    python -m experiments.flip [--model clothing_model.tflite] [--threads 2] [--runs 100]

Prints the median time of ``Classifier.scores``, which is one invoke without ``"flip": true`` in the model's
settings and two with it (the picture and its mirror).
"""

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.run import ROOT
from clothing.classifier import Classifier, metadata_path
from clothing.decoding.decode import decode_image


def median_ms(classifier: Classifier, batch, runs: int) -> float:
    classifier.scores(batch)  # the first invoke packs the weights
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        classifier.scores(batch)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "clothing_model.tflite")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    settings = json.loads(Path(metadata_path(args.model)).read_text())
    with tempfile.TemporaryDirectory() as scratch:
        flipped = Path(scratch) / args.model.name
        shutil.copyfile(args.model, flipped)
        Path(metadata_path(flipped)).write_text(json.dumps({**settings, "flip": True}))
        plain = Classifier(args.model, args.threads)
        batch = plain.prepare(decode_image((ROOT / "tests" / "images" / "pants-1.jpg").read_bytes(), plain.input_size))
        times = {"one invoke": median_ms(plain, batch, args.runs),
                 "flip averaging": median_ms(Classifier(flipped, args.threads), batch, args.runs)}
    print(f"{args.model.name}, {args.threads} threads, median of {args.runs}:")
    for name, ms in times.items():
        print(f"  {name}: {ms:.1f} ms")


if __name__ == "__main__":
    main()
