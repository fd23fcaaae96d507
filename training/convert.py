"""Convert the trained network to TF-Lite, quantize it, and check it against PyTorch.

    python -m training.convert

Writes each variant beside the checkpoint with its validation accuracy, then
ships the chosen one as ``clothing_model.tflite`` with ``clothing_model.json``
(input size, scaling, labels) beside it. Fails when the shipped model's
top-1 answer differs from PyTorch's on any validation picture with a clear
answer, or when a score differs by more than ``MAX_SCORE_DIFFERENCE``.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ai_edge_quantizer import quantizer, recipe
from tqdm import tqdm

from clothing.classifier import Classifier, metadata_path, write_metadata
from clothing.model_input import InputPreparer
from clothing.reference import reference_path, write_reference
from conversion import torch_to_tflite
from conversion.agreement import check_agreement
from conversion.convert import reference_pictures
from conversion.float16 import float16_recipe
from conversion.source import ConversionError
from training import config, data
from training.config import CLASSES
from training.model import Ensemble, load_trained_network

SHIPPED_VARIANT = "float16"  # chosen by size, speed and accuracy: see docs/model.md


def load_trained(checkpoints: list[Path], mirror: bool = False) -> tuple[torch.nn.Module, bool, dict]:
    """The network to serve (taking NCHW pictures), whether it answers logits, and the first run's settings.

    One run's network answers logits; several runs' mean answer (``training.model.Ensemble``) is probabilities.
    """
    loaded = [load_trained_network(checkpoint) for checkpoint in checkpoints]
    saved = loaded[0][1]
    if any(other["input_size"] != saved["input_size"] for _, other in loaded):
        raise ValueError("every run in an ensemble must take the same input size")
    if len(loaded) == 1 and not mirror:
        return loaded[0][0].eval(), True, saved
    ensemble = Ensemble([network for network, _ in loaded], mirror=mirror)
    description = " + ".join(other["architecture"] for _, other in loaded) + (", mirrored too" if mirror else "")
    return ensemble.eval(), False, {**saved, "architecture": description}


def settings_of(saved: dict) -> dict:
    """What the function reads beside the model, for a training checkpoint."""
    return {"architecture": saved["architecture"], "input_size": saved["input_size"], "scaling": "xception",
            "resize": "antialiased", "output": "probabilities", "labels": list(CLASSES)}


VARIANT_RECIPES = {
    "float16": float16_recipe,
    "int8-weights": recipe.weight_only_wi8_afp32,
    "int8-dynamic": recipe.dynamic_wi8_afp32,
}


def export_variants(model: torch.nn.Module, logits: bool, saved: dict, work: Path) -> dict[str, Path]:
    """The float32 model (``conversion.torch_to_tflite``, the path a user's network takes) and each quantized variant,
    each with its metadata file."""
    float_path = work / "model-float32.tflite"
    float_path.write_bytes(torch_to_tflite.to_tflite(model, saved["input_size"], add_softmax=logits, float16=False))
    paths = {"float32": float_path}
    for name, make_recipe in VARIANT_RECIPES.items():
        paths[name] = work / f"model-{name}.tflite"
        result = quantizer.Quantizer(str(float_path), make_recipe()).quantize(enable_progress_report=False)
        paths[name].write_bytes(result.quantized_model)
    for path in paths.values():
        write_metadata(path, settings_of(saved))
    return paths


def tflite_scores(model_path: Path, inputs: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Scores for every input, with the model's load time and median invoke time in ms (2 threads)."""
    started = time.perf_counter()
    classifier = Classifier(model_path, threads=2)
    loaded = time.perf_counter()
    scores, times = [], []
    for x in tqdm(inputs, desc=model_path.stem, leave=False):
        before = time.perf_counter()
        scores.append(classifier.scores(x[None]))
        times.append(time.perf_counter() - before)
    return np.stack(scores), 1000 * (loaded - started), 1000 * float(np.median(times))


def write_pytorch_reference(model: torch.nn.Module, logits: bool, size: int, ship_to: Path) -> None:
    """PyTorch's answers to a few validation pictures beside the shipped model, for a deploy's pre-traffic
    check (clothing.reference)."""
    kept = reference_pictures(data.list_images(config.DATASET / "validation")[0], size)
    inputs = np.concatenate([InputPreparer(size).from_bytes(picture) for picture in kept.values()])
    with torch.no_grad():
        scores = model(torch.from_numpy(inputs).permute(0, 3, 1, 2))
        scores = (torch.softmax(scores, dim=-1) if logits else scores).numpy()
    write_reference(ship_to, kept, [dict(zip(CLASSES, row, strict=True)) for row in scores], "PyTorch")


def ship(model_file: Path, ship_to: Path, settings: dict, write_reference_beside) -> None:
    """The model, its settings and its reference answers written beside each other in a scratch folder, then
    each moved into place whole: a failure leaves the shipped files as they were, never half of a new model."""
    ship_to.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ship_to.parent, prefix=".ship-") as scratch:
        staged = Path(scratch) / ship_to.name
        shutil.copyfile(model_file, staged)
        write_metadata(staged, settings)
        write_reference_beside(staged)
        for name in (reference_path, metadata_path):
            os.replace(name(staged), name(ship_to))
        os.replace(staged, ship_to)


def convert(checkpoints: list[Path], limit: int = 0, ship_to: Path = config.MODEL_FILE, mirror: bool = False,
            work: Path | None = None) -> dict:
    """Exports, checks and ships the network; its variants and report go to ``work`` (default: the first run's)."""
    model, logits, saved = load_trained(checkpoints, mirror)
    work = work or checkpoints[0].parent
    work.mkdir(parents=True, exist_ok=True)
    validation = np.load(data.prepare_split("validation", saved["input_size"], limit=limit))
    inputs = InputPreparer(saved["input_size"]).scale(validation["pixels"].astype(np.float32))
    labels = validation["labels"]
    with torch.no_grad():
        reference = model(torch.from_numpy(inputs).permute(0, 3, 1, 2))
        reference = (torch.softmax(reference, dim=-1) if logits else reference).numpy()
    report = {"pytorch": {"accuracy": float((reference.argmax(1) == labels).mean())}}
    paths = export_variants(model, logits, saved, work)
    for name, path in paths.items():
        scores, load_ms, invoke_ms = tflite_scores(path, inputs)
        report[name] = {
            "accuracy": float((scores.argmax(1) == labels).mean()),
            "megabytes": round(path.stat().st_size / 1e6, 2),
            "load_ms": round(load_ms, 1),
            "invoke_ms": round(invoke_ms, 1),
            "top1_disagreements": int((scores.argmax(1) != reference.argmax(1)).sum()),
            "max_score_difference": float(np.abs(scores - reference).max()),
        }
        print(f"{name:>13}: validation accuracy {report[name]['accuracy']:.4f}, "
              f"{report[name]['megabytes']} MB, load {load_ms:.0f} ms, invoke {invoke_ms:.1f} ms, "
              f"top-1 differs from PyTorch on "
              f"{report[name]['top1_disagreements']}, largest score difference "
              f"{report[name]['max_score_difference']:.4f}")
        if name == SHIPPED_VARIANT:
            check_agreement(reference, scores, "PyTorch")
    ship(paths[SHIPPED_VARIANT], ship_to, settings_of(saved),
         lambda staged: write_pytorch_reference(model, logits, saved["input_size"], staged))
    print(f"shipped the {SHIPPED_VARIANT} variant as {ship_to}")
    (work / "conversion.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, action="append",
                        help="a run's best.pt; several make an ensemble (default: the shipped run's)")
    parser.add_argument("--mirror", action="store_true", help="each picture mirrored too, one more pass")
    parser.add_argument("--work", type=Path, help="where the variants and report go (default: the first run's folder)")
    parser.add_argument("--ship-to", type=Path, default=config.MODEL_FILE,
                        help="where the shipped variant and its settings go (make model: a candidate, which "
                             "training.evaluate --promote judges against the shipped model)")
    args = parser.parse_args()
    try:
        args.ship_to.parent.mkdir(parents=True, exist_ok=True)
        convert(args.checkpoint or [config.run_dir(config.SEED) / "best.pt"],
                ship_to=args.ship_to, mirror=args.mirror, work=args.work)
    except ConversionError as error:
        sys.exit(f"conversion failed: {error}")
