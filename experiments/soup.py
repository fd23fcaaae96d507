"""Average the weights of several training runs into one network: a "model soup".

    python -m training.train --seed 7
    python -m experiments.soup training/work/seed-42 training/work/seed-7

Runs fine-tuned from the same ImageNet weights end in one basin of the loss,
so the average of their weights is itself a good network, often better than
each run alone, and exactly as fast: an ensemble's gain without its cost per
picture (Wortsman et al., "Model soups", 2022). The soup is greedy: runs are
taken best first, and each joins only if the soup with it does at least as
well on validation. Writes ``training/work/soup.pt`` in the format of a run's ``best.pt``,
for ``python -m training.convert --checkpoint``.

Tried, not shipped: two runs of this recipe averaged worse than either alone
(docs/model.md), so ``make model`` trains and ships one run.
"""

import argparse
from pathlib import Path

import numpy as np
import torch

from clothing.model_input import InputPreparer
from training import config, data
from training.model import build
from training.train import accuracy, predict, to_tensor


def average(states: list[dict]) -> dict:
    """The element-wise mean of state dicts; integer entries (counters) are taken from the first."""
    return {
        name: torch.stack([s[name] for s in states]).mean(0) if tensor.is_floating_point() else tensor
        for name, tensor in states[0].items()
    }


def greedy_soup(runs: list[Path], out: Path, limit: int = 0) -> dict:
    checkpoints = [torch.load(run / "best.pt", weights_only=False) for run in runs]
    first = checkpoints[0]
    if any((c["architecture"], c["input_size"]) != (first["architecture"], first["input_size"])
           for c in checkpoints):
        raise ValueError("every run in a soup must have the same architecture and input size")
    validation = np.load(data.prepare_split("validation", first["input_size"], limit=limit))
    images = to_tensor(validation["pixels"], InputPreparer(first["input_size"]))
    labels = torch.from_numpy(validation["labels"])
    network = build(first["architecture"], first["input_size"], pretrained=False)

    def scores(state: dict) -> torch.Tensor:
        network.load_state_dict(state)
        return predict(network, images)

    def score(state: dict) -> float:
        return accuracy(scores(state), labels)

    ensemble = accuracy(sum(scores(c["model"]) for c in checkpoints), labels)
    print(f"for comparison, the ensemble of all {len(runs)} runs (each picture through every run): {ensemble:.4f}")

    ranked = sorted(zip(runs, checkpoints, strict=True), key=lambda pair: pair[1]["accuracy"], reverse=True)
    kept, best = [ranked[0]], score(ranked[0][1]["model"])
    print(f"{ranked[0][0]}: validation accuracy {best:.4f}")
    for run, checkpoint in ranked[1:]:
        candidate = score(average([c["model"] for _, c in kept] + [checkpoint["model"]]))
        joins = candidate >= best
        print(f"+ {run}: soup accuracy {candidate:.4f} ({'kept' if joins else 'left out'})")
        if joins:
            kept.append((run, checkpoint))
            best = candidate
    soup = {**first, "model": average([c["model"] for _, c in kept]), "accuracy": best,
            "runs": [str(run) for run, _ in kept]}
    torch.save(soup, out)
    print(f"soup of {len(kept)} runs: validation accuracy {best:.4f}, written to {out}")
    return soup


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+", help="training runs' folders, each with a best.pt")
    parser.add_argument("--out", type=Path, default=config.WORK / "soup.pt")
    args = parser.parse_args()
    greedy_soup(args.runs, args.out)
