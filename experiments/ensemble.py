"""How much running each picture through several trained networks, or mirrored too, gains on validation.

    python -m experiments.ensemble training/work/seed-42 training/work/seed-7
    python -m experiments.ensemble --input-size 240 training/work/seed-42 training/work/lite1-240

Prints the validation accuracy of each run alone, each with its mirror image,
all runs together, and all runs with the mirror image: the candidates for
``python -m training.convert --checkpoint ... --checkpoint ... [--mirror]``,
with the number of passes each costs per picture; then the pictures that
every run alone gets wrong, each with the runs' answers, to look at first
when labels are in doubt. ``--input-size`` feeds every network pictures of
that size, whatever size it was trained on: runs trained at different sizes
can then be combined, and one run can be tried on larger pictures than it saw
in training.
"""

import argparse
from pathlib import Path

import numpy as np
import torch

from clothing.model_input import InputPreparer
from training import data
from training.config import CLASSES
from training.model import Ensemble, load_trained_network
from training.train import accuracy, to_tensor


def scores(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return torch.cat([model(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])


def compare(runs: list[Path], limit: int = 0, input_size: int | None = None) -> dict[str, float]:
    """Validation accuracy of every candidate, by name, on pictures of ``input_size`` (default: the runs')."""
    loaded = [load_trained_network(run / "best.pt", input_size) for run in runs]
    sizes = {input_size or saved["input_size"] for _, saved in loaded}
    if len(sizes) != 1:
        raise ValueError(f"the runs take different input sizes: {sorted(sizes)}; choose one with --input-size")
    size = sizes.pop()
    validation = np.load(data.prepare_split("validation", size, limit=limit))
    images = to_tensor(validation["pixels"], InputPreparer(size))
    labels = torch.from_numpy(validation["labels"])
    results = {}

    def report(name: str, model: torch.nn.Module) -> torch.Tensor:
        """Prints and keeps ``model``'s validation accuracy; answers its top class for each picture."""
        probabilities = scores(model, images)
        results[name] = accuracy(probabilities, labels)
        print(f"{name}: validation accuracy {results[name]:.4f} "
              f"({round(results[name] * len(labels))} of {len(labels)})")
        return probabilities.argmax(1)

    networks = [network for network, _ in loaded]
    alone = []
    for run, network in zip(runs, networks, strict=True):
        alone.append(report(f"{run.name} (1 pass)", Ensemble([network])))
        report(f"{run.name}, mirrored too (2 passes)", Ensemble([network], mirror=True))
    names = " + ".join(run.name for run in runs)
    report(f"{names} ({len(runs)} passes)", Ensemble(networks))
    report(f"{names}, mirrored too ({2 * len(runs)} passes)", Ensemble(networks, mirror=True))
    missed = torch.stack([answers != labels for answers in alone]).all(0)
    print(f"missed by every run alone: {int(missed.sum())} of {len(labels)}")
    for i in missed.nonzero().flatten().tolist():
        print(f"  {CLASSES[labels[i]]}/{validation['names'][i]}: "
              f"{', '.join(CLASSES[answers[i]] for answers in alone)}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+", help="training runs' folders, each with a best.pt")
    parser.add_argument("--input-size", type=int, help="picture size for every network (default: the runs')")
    arguments = parser.parse_args()
    compare(arguments.runs, input_size=arguments.input_size)
