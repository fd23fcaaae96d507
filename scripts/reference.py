"""Reference answers for a model whose framework source is gone: its own answers as the function serves it now.

    python -m scripts.reference [MODEL]   # default clothing_model.tflite; writes clothing_model.reference.json

``make convert`` and ``make model`` write the reference from the framework's answers (clothing.reference);
this is for a TF-Lite file that came without them, such as one trained before they were kept. Its answers
then pin what the function answers today, so that a later deploy of the same model with another settings file
or other preparation code fails the pre-traffic check. Run it only on a model known good (for the shipped
one, after ``python -m training.evaluate``).
"""

import argparse
import sys
from pathlib import Path

from clothing.classifier import Classifier
from clothing.reference import reference_path, write_reference
from conversion.convert import check_pictures, reference_pictures
from conversion.source import ConversionError

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, nargs="?", default=ROOT / "clothing_model.tflite")
    parser.add_argument("--check-dir", type=Path, help="pictures to take them from (default: as make convert)")
    args = parser.parse_args(argv)
    try:
        classifier = Classifier(args.model)
        kept = reference_pictures(check_pictures(args.check_dir), classifier.input_size)
    except (OSError, ValueError, ConversionError) as error:
        print(f"reference: {args.model}: {error}", file=sys.stderr)
        return 1
    answers = [classifier.classify_bytes(picture) for picture in kept.values()]
    write_reference(args.model, kept, answers, "this TF-Lite file as served")
    print(f"{reference_path(args.model)}: {len(kept)} pictures and their answers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
